"""DVC stages `stage3@<seed>` (the full model) and `stage3_no_<component>@<seed>` (one component off): one run
each, into runs/stage3/<seed>/ or runs/stage3_ablations/<ablation>/<seed>/; a seed the active profile does not
train is skipped."""
from cifar10_study.components.stage3_components import STAGE3_COMPONENTS
from cifar10_study.components.switches import ablations
from cifar10_study.core.cli import stage_argument, stage_entry
from cifar10_study.core.layout import STAGE3, run_name
from cifar10_study.core.seeds import skip_untrained_seed


@stage_entry
def main() -> None:
    seed = stage_argument("seed (a key of stage3.seeds or stage3.ablation_seeds, e.g. seed_0)", required=True)
    ablation = stage_argument("ablation", required=False, valid=list(ablations(STAGE3_COMPONENTS)), position=2)
    name = f"{run_name(STAGE3, ablation)}/{seed}"
    if skip_untrained_seed("stage3.seeds" if ablation is None else "stage3.ablation_seeds", seed, name):
        return
    # Imported only where a seed trains: a skipped seed stage must not pay for torch.
    from cifar10_study.experiments import stage3
    from cifar10_study.training.stage import training_stage

    with training_stage(name, stage3.Stage3Params) as stage:
        run = stage3.train(stage.params, seed, stage.data, stage.device, ablation, stage.checkpoints)
    print(f"{run.name}: test accuracy {run.results['test_accuracy']:.4f} ({stage.params.profile} profile)")


if __name__ == "__main__":
    main()
