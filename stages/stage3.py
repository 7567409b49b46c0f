"""DVC stage `stage3` (no argument: the full model) and `stage3_ablations@<name>` (one component off)."""
import sys

from cifar10_study.experiments import stage3
from cifar10_study.training.checkpoint import stage_checkpoints
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.config import load_params
from cifar10_study.data.cifar10 import load_splits
from cifar10_study.training.engine import init_device


@stage_entry
def main() -> None:
    ablation = sys.argv[1] if len(sys.argv) > 1 else None
    params = load_params()
    device = init_device(params.runtime)
    prefix = "stage3" if ablation is None else f"stage3_ablations/{ablation}"
    with stage_checkpoints(prefix, params.runtime.checkpoint_interval_seconds) as checkpoints:
        run = stage3.run(params, load_splits("data/prepared", device), device, ablation, checkpoints)
    print(f"{prefix}: test accuracy {run.metrics['test_accuracy']:.4f} ({params.profile} profile)")


if __name__ == "__main__":
    main()
