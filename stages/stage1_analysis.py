"""DVC stage `stage1_analysis`: Stage 1's results and tables for git (metrics/stage1*.json, plots/stage1*/)
from its runs."""
from cifar10_study.analysis import stage1_results
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.params_file import load


@stage_entry
def main() -> None:
    stage1_results.write_outputs(load(stage1_results.Stage1AnalysisParams))
    print("stage1_analysis: wrote metrics/stage1.json, metrics/stage1_experiments.json, plots/stage1*/")


if __name__ == "__main__":
    main()
