"""DVC stage `stage3` (no argument: the full model) and `stage3_ablations@<name>` (one component off)."""
from cifar10_study.components.stage3_components import STAGE3_COMPONENTS
from cifar10_study.components.switches import ablations
from cifar10_study.core.cli import stage_argument, stage_entry
from cifar10_study.core.layout import STAGE3, run_name
from cifar10_study.experiments import stage3
from cifar10_study.training.stage import training_stage


@stage_entry
def main() -> None:
    ablation = stage_argument("ablation", required=False, valid=list(ablations(STAGE3_COMPONENTS)))
    with training_stage(run_name(STAGE3, ablation), stage3.Stage3Params) as stage:
        run = stage3.train(stage.params, stage.data, stage.device, ablation, stage.checkpoints)
    print(f"{run.name}: test accuracy {run.results['test_accuracy']:.4f} ({stage.params.profile} profile)")


if __name__ == "__main__":
    main()
