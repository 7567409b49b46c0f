"""DVC stage `stage1_experiments@<seed>`: linear collapse and bottleneck sweep around the baseline CNN, with
one seed (runs/stage1_experiments/<seed>/); a seed the active profile does not train is skipped."""
from cifar10_study.core.cli import stage_argument, stage_entry
from cifar10_study.core.layout import STAGE1_EXPERIMENTS
from cifar10_study.core.seeds import skip_untrained_seed


@stage_entry
def main() -> None:
    seed = stage_argument("seed (a key of stage1_experiments.seeds, e.g. seed_0)", required=True)
    folder = f"{STAGE1_EXPERIMENTS}/{seed}"
    if skip_untrained_seed("stage1_experiments.seeds", seed, folder):
        return
    # Imported only where a seed trains: a skipped seed stage must not pay for torch.
    from cifar10_study.experiments import stage1
    from cifar10_study.training.stage import training_stage

    with training_stage(folder, stage1.ExperimentParams) as stage:
        record = stage1.train_experiments(stage.params, seed, stage.data, stage.device, stage.checkpoints)
    fit = record["collapse"]["linear_avgpool"]
    print(f"{folder}: linear_avgpool is affine: {fit['is_affine']} "
          f"(max relative logit difference {fit['max_rel_diff_float32']:.2e})")


if __name__ == "__main__":
    main()
