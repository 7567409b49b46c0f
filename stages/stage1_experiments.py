"""DVC stage `stage1_experiments`: linear collapse and bottleneck sweep around the baseline CNN
(runs/stage1_experiments/)."""
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.layout import STAGE1_EXPERIMENTS
from cifar10_study.experiments import stage1
from cifar10_study.training.stage import training_stage


@stage_entry
def main() -> None:
    with training_stage(STAGE1_EXPERIMENTS, stage1.ExperimentParams) as stage:
        record = stage1.train_experiments(stage.params, stage.data, stage.device, stage.checkpoints)
    fit = record["collapse"]["linear_avgpool"]
    print(f"stage1_experiments: linear_avgpool is affine: {fit['is_affine']} "
          f"(max relative logit difference {fit['max_rel_diff_float32']:.2e})")


if __name__ == "__main__":
    main()
