"""DVC stage `stage4@<seed>`: ResNet-18 with the published recipe and one seed (runs/stage4/<seed>/); a seed
the active profile does not train is skipped."""
from cifar10_study.core.cli import stage_argument, stage_entry
from cifar10_study.core.layout import STAGE4
from cifar10_study.core.seeds import skip_untrained_seed


@stage_entry
def main() -> None:
    seed = stage_argument("seed (a key of stage4.seeds, e.g. seed_0)", required=True)
    name = f"{STAGE4}/{seed}"
    if skip_untrained_seed("stage4.seeds", seed, name):
        return
    # Imported only where a seed trains: a skipped seed stage must not pay for torch.
    from cifar10_study.experiments import stage4
    from cifar10_study.training.stage import training_stage

    with training_stage(name, stage4.Stage4Params, distributed=True) as stage:
        run = stage4.train(stage.params, stage.data, stage.device, seed, stage.checkpoints, stage.world)
    if stage.world.main:
        print(f"{name}: test accuracy {run.results['test_accuracy']:.4f} ({stage.params.profile} profile)")


if __name__ == "__main__":
    main()
