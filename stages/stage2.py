"""DVC stage `stage2@<variant>-<seed>`: train one width/depth scaling variant of the baseline with one seed
(runs/stage2/<variant>/<seed>/); a seed the active profile does not train is skipped."""
from cifar10_study.core.cli import stage_argument, stage_entry
from cifar10_study.core.layout import variant_run
from cifar10_study.core.seeds import skip_untrained_seed


@stage_entry
def main() -> None:
    name = stage_argument("variant (a key of stage2.variants in params.yaml)", required=True)
    seed = stage_argument("seed (a key of stage2.seeds, e.g. seed_0)", required=True, position=2)
    if skip_untrained_seed("stage2.seeds", seed, f"{variant_run(name)}/{seed}"):
        return
    # Imported only where a seed trains: a skipped seed stage must not pay for torch.
    from cifar10_study.experiments import stage2
    from cifar10_study.training.stage import training_stage

    with training_stage(f"{variant_run(name)}/{seed}", stage2.Stage2Params) as stage:
        run = stage2.train_variant(stage.params, name, seed, stage.data, stage.device, stage.checkpoints)
    print(f"{run.name}: test accuracy {run.results['test_accuracy']:.4f} ({stage.params.profile} profile)")


if __name__ == "__main__":
    main()
