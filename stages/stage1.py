"""DVC stage `stage1`: train the baseline CNN and write its curves, confusion matrix and parameter table."""
from cifar10_study import stage1
from cifar10_study.cli import setup, stage_entry
from cifar10_study.data import load_splits


@stage_entry
def main() -> None:
    params, device = setup()
    run = stage1.run_baseline(params, load_splits("data/prepared", device), device)
    print(f"stage1: test accuracy {run.metrics['test_accuracy']:.4f} ({params.profile} profile)")


if __name__ == "__main__":
    main()
