"""DVC stage `stage2_explosion`: parameters, FLOPs, step time and memory of ever wider CNNs, and the
affordable ones trained (runs/stage2_explosion/)."""
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.layout import EXPLOSION
from cifar10_study.experiments import stress_tests
from cifar10_study.training.stage import training_stage


@stage_entry
def main() -> None:
    with training_stage(EXPLOSION, stress_tests.ExplosionParams) as stage:
        stress_tests.explosion_test(stage.params, stage.data, stage.device, stage.checkpoints)
    print(f"stage2_explosion: widths {stage.params.stage2_explosion.widths} counted, measured and trained "
          f"where affordable (runs/stage2_explosion/widths.csv)")


if __name__ == "__main__":
    main()
