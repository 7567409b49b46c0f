"""DVC stage `download`: fetch (or read data.source), validate, split -> data/prepared/."""
from cifar10_study.cli import stage_entry
from cifar10_study.config import load_params
from cifar10_study.data import prepare


@stage_entry
def main() -> None:
    data = load_params().data
    meta = prepare(data.source, "data/prepared", val_size=data.val_size, split_seed=data.split_seed)
    print(f"prepared CIFAR-10 from {meta['source']}: {meta['counts']}")


if __name__ == "__main__":
    main()
