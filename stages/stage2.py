"""DVC stage `stage2@<variant>`: train one width/depth scaling variant of the baseline."""
import sys

from cifar10_study.experiments import stage2
from cifar10_study.training.checkpoint import stage_checkpoints
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.config import load_params
from cifar10_study.data.cifar10 import load_splits
from cifar10_study.training.engine import init_device


@stage_entry
def main() -> None:
    name = sys.argv[1]
    params = load_params()
    device = init_device(params.runtime)
    with stage_checkpoints(f"stage2/{name}", params.runtime.checkpoint_interval_seconds) as checkpoints:
        run = stage2.run_variant(params, name, load_splits("data/prepared", device), device, checkpoints)
    print(f"stage2 {name}: test accuracy {run.metrics['test_accuracy']:.4f} ({params.profile} profile)")


if __name__ == "__main__":
    main()
