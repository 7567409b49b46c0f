"""DVC stage `stage2_explosion`: parameters, FLOPs, memory and time against width, up to the extreme."""
from cifar10_study.experiments import stress
from cifar10_study.training.checkpoint import stage_checkpoints
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.config import load_params
from cifar10_study.data.cifar10 import load_splits
from cifar10_study.training.engine import init_device


@stage_entry
def main() -> None:
    params = load_params()
    device = init_device(params.runtime)
    with stage_checkpoints("stage2_explosion", params.runtime.checkpoint_interval_seconds) as checkpoints:
        summary = stress.run_explosion(params, load_splits("data/prepared", device), device, checkpoints)
    for key, row in summary["widths"].items():
        print(f"stage2_explosion {key}: {row['params']:,} params, trained {row['trained']}")


if __name__ == "__main__":
    main()
