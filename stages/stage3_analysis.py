"""DVC stage `stage3_analysis`: Stage 3's and its ablations' results for git (metrics/stage3.json,
plots/stage3/) from their runs."""
from cifar10_study.analysis import stage3_results
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.params_file import load


@stage_entry
def main() -> None:
    stage3_results.write_outputs(load(stage3_results.Stage3AnalysisParams))
    print("stage3_analysis: wrote metrics/stage3.json, plots/stage3/")


if __name__ == "__main__":
    main()
