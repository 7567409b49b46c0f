"""DVC stage `stage5` (no argument: all components on) and `stage5_ablations@<name>` (one off)."""
from cifar10_study.core.cli import stage_argument, stage_entry
from cifar10_study.experiments import stage5
from cifar10_study.training.stage import training_stage


@stage_entry
def main() -> None:
    ablation = stage_argument("ablation", required=False, valid=list(stage5.ABLATIONS))
    name = stage5.run_name(ablation)
    with training_stage(name) as stage:
        runs = stage5.run(stage.params, stage.data, stage.device, ablation, stage.checkpoints)
    accuracies = ", ".join(f"{r.results['test_accuracy']:.4f}" for r in runs)
    print(f"{name}: test accuracy {accuracies} "
          f"(one per seed, {stage.params.profile} profile)")


if __name__ == "__main__":
    main()
