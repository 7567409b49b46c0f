"""DVC stage `stage1@<seed>`: train the baseline CNN with one seed (runs/stage1/<seed>/); a seed the active
profile does not train is skipped."""
from cifar10_study.core.cli import stage_argument, stage_entry
from cifar10_study.core.layout import STAGE1
from cifar10_study.core.seeds import skip_untrained_seed


@stage_entry
def main() -> None:
    seed = stage_argument("seed (a key of stage1.seeds, e.g. seed_0)", required=True)
    if skip_untrained_seed("stage1.seeds", seed, f"{STAGE1}/{seed}"):
        return
    # Imported only where a seed trains: a skipped seed stage must not pay for torch.
    from cifar10_study.experiments import stage1
    from cifar10_study.training.stage import training_stage

    with training_stage(f"{STAGE1}/{seed}", stage1.BaselineParams) as stage:
        run = stage1.train_baseline(stage.params, seed, stage.data, stage.device, stage.checkpoints)
    print(f"{run.name}: test accuracy {run.results['test_accuracy']:.4f} ({stage.params.profile} profile)")


if __name__ == "__main__":
    main()
