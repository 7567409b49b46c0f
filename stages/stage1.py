"""DVC stage `stage1`: train the baseline CNN (runs/stage1/)."""
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.layout import STAGE1
from cifar10_study.experiments import stage1
from cifar10_study.training.stage import training_stage


@stage_entry
def main() -> None:
    with training_stage(STAGE1, stage1.BaselineParams) as stage:
        run = stage1.train_baseline(stage.params, stage.data, stage.device, stage.checkpoints)
    print(f"stage1: test accuracy {run.results['test_accuracy']:.4f} ({stage.params.profile} profile)")


if __name__ == "__main__":
    main()
