"""DVC stage `stage5` (no argument: all components on) and `stage5_ablations@<name>` (one off)."""
import sys

from cifar10_study.experiments import stage5
from cifar10_study.training.checkpoint import stage_checkpoints
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.config import load_params
from cifar10_study.data.cifar10 import load_splits
from cifar10_study.training.engine import init_device
from cifar10_study.training.runs import describe_seeds


@stage_entry
def main() -> None:
    ablation = sys.argv[1] if len(sys.argv) > 1 else None
    params = load_params()
    device = init_device(params.runtime)
    name = stage5.run_name(ablation)
    with stage_checkpoints(name, params.runtime.checkpoint_interval_seconds) as checkpoints:
        summary = stage5.run(params, load_splits("data/prepared", device), device, ablation, checkpoints)
    print(f"{name}: {describe_seeds(summary)} ({params.profile} profile)")


if __name__ == "__main__":
    main()
