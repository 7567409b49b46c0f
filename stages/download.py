"""DVC stage `download`: fetch (or read data.source), validate, split -> data/prepared/."""
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.params_file import load
from cifar10_study.data.cifar10 import DataParams, prepare


@stage_entry
def main() -> None:
    data = load(DataParams).data
    meta = prepare(data.source, "data/prepared", val_size=data.val_size, split_seed=data.split_seed,
                   batch_images=data.batch_images)
    print(f"prepared CIFAR-10 from {meta['source']}: {meta['counts']}")


if __name__ == "__main__":
    main()
