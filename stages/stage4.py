"""DVC stage `stage4`: ResNet-18 with the published recipe, once per seed of the profile (runs/stage4/)."""
from cifar10_study.core.cli import stage_entry
from cifar10_study.experiments import stage4
from cifar10_study.training.stage import training_stage


@stage_entry
def main() -> None:
    with training_stage(stage4.STAGE) as stage:
        runs = stage4.run(stage.params, stage.data, stage.device, stage.checkpoints)
    accuracies = ", ".join(f"{r.results['test_accuracy']:.4f}" for r in runs)
    print(f"stage4: test accuracy {accuracies} "
          f"(one per seed, {stage.params.profile} profile)")


if __name__ == "__main__":
    main()
