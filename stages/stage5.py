"""DVC stages `stage5@<seed>` (all components on) and `stage5_no_<component>@<seed>` (one off): one run each,
into runs/stage5/<seed>/ or runs/stage5_ablations/<ablation>/<seed>/; a seed the active profile does not
train is skipped."""
from cifar10_study.components.stage5_components import STAGE5_COMPONENTS
from cifar10_study.components.switches import ablations
from cifar10_study.core.cli import stage_argument, stage_entry
from cifar10_study.core.layout import STAGE5, run_name
from cifar10_study.core.seeds import skip_untrained_seed


@stage_entry
def main() -> None:
    seed = stage_argument("seed (a key of stage4.seeds, e.g. seed_0)", required=True)
    ablation = stage_argument("ablation", required=False, valid=list(ablations(STAGE5_COMPONENTS)), position=2)
    name = f"{run_name(STAGE5, ablation)}/{seed}"
    if skip_untrained_seed("stage4.seeds", seed, name):
        return
    # Imported only where a seed trains: a skipped seed stage must not pay for torch.
    from cifar10_study.experiments import stage5
    from cifar10_study.training.stage import training_stage

    with training_stage(name, stage5.Stage5Params, distributed=True) as stage:
        run = stage5.train(stage.params, stage.data, stage.device, seed, ablation, stage.checkpoints, stage.world)
    if stage.world.main:
        print(f"{name}: test accuracy {run.results['test_accuracy']:.4f} ({stage.params.profile} profile)")


if __name__ == "__main__":
    main()
