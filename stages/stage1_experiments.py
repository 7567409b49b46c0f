"""DVC stage `stage1_experiments`: linear collapse and bottleneck sweep around the baseline CNN."""
from cifar10_study.experiments import stage1
from cifar10_study.training.checkpoint import stage_checkpoints
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.config import load_params
from cifar10_study.data.cifar10 import load_splits
from cifar10_study.training.engine import init_device


@stage_entry
def main() -> None:
    params = load_params()
    device = init_device(params.runtime)
    with stage_checkpoints("stage1_experiments", params.runtime.checkpoint_interval_seconds) as checkpoints:
        summary = stage1.run_experiments(params, load_splits("data/prepared", device), device, checkpoints)
    fit = summary["collapse"]["linear_avgpool"]
    print(f"stage1_experiments: linear_avgpool is affine: {fit['is_affine']} "
          f"(max relative logit difference {fit['max_rel_diff_float32']:.2e})")


if __name__ == "__main__":
    main()
