"""DVC stage `stage2_vanishing`: gradient norms per layer of very deep plain CNNs, and whether they train
(runs/stage2_vanishing/)."""
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.layout import VANISHING
from cifar10_study.experiments import stress_tests
from cifar10_study.training.stage import training_stage


@stage_entry
def main() -> None:
    with training_stage(VANISHING, stress_tests.VanishingParams) as stage:
        record = stress_tests.vanishing_test(stage.params, stage.data, stage.device, stage.checkpoints)
    for name, depth in record["depths"].items():
        print(f"stage2_vanishing {name}: {'diverged' if depth['diverged'] else 'trained'}")


if __name__ == "__main__":
    main()
