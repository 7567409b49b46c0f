"""DVC stage `stage45_analysis`: Stages 4 and 5 over seeds, with the Welch and McNemar comparisons, for git
(metrics/stage4.json, metrics/stage5.json, plots/stage4/, plots/stage45/) from their runs."""
from cifar10_study.analysis import stage45_results
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.params_file import load


@stage_entry
def main() -> None:
    stage45_results.write_outputs(load(stage45_results.Stage45AnalysisParams))
    print("stage45_analysis: wrote metrics/stage4.json, metrics/stage5.json, plots/stage4/, plots/stage45/")


if __name__ == "__main__":
    main()
