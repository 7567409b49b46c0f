"""DVC stage `stage2_analysis`: the scaling variants' diagnostics and the stress tests' summaries and fits
for git (metrics/stage2*.json, plots/stage2*/) from their runs."""
from cifar10_study.analysis import stage2_results
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.params_file import load


@stage_entry
def main() -> None:
    stage2_results.write_outputs(load(stage2_results.Stage2AnalysisParams))
    print("stage2_analysis: wrote metrics/stage2*.json, plots/stage2*/")


if __name__ == "__main__":
    main()
