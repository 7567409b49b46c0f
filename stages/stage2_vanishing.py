"""DVC stage `stage2_vanishing`: gradient norms per layer of very deep plain CNNs, and whether they train."""
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
    with stage_checkpoints("stage2_vanishing", params.runtime.checkpoint_interval_seconds) as checkpoints:
        summary = stress.run_vanishing(params, load_splits("data/prepared", device), device, checkpoints)
    for name, run in summary["runs"].items():
        print(f"stage2_vanishing {name}: val accuracy {run['final_val_accuracy']}, diverged {run['diverged']}")


if __name__ == "__main__":
    main()
