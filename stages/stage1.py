"""DVC stage `stage1`: train the baseline CNN and write its curves, confusion matrix and parameter table."""
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
    with stage_checkpoints("stage1", params.runtime.checkpoint_interval_seconds) as checkpoints:
        run = stage1.run_baseline(params, load_splits("data/prepared", device), device, checkpoints)
    print(f"stage1: test accuracy {run.metrics['test_accuracy']:.4f} ({params.profile} profile)")


if __name__ == "__main__":
    main()
