"""DVC stage `stage4`: ResNet-18 with the published recipe, once per seed of the profile."""
from cifar10_study.experiments import stage4
from cifar10_study.training.checkpoint import stage_checkpoints
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.config import load_params
from cifar10_study.data.cifar10 import load_splits
from cifar10_study.training.engine import init_device
from cifar10_study.training.runs import describe_seeds


@stage_entry
def main() -> None:
    params = load_params()
    device = init_device(params.runtime)
    with stage_checkpoints(stage4.STAGE, params.runtime.checkpoint_interval_seconds) as checkpoints:
        summary = stage4.run(params, load_splits("data/prepared", device), device, checkpoints)
    print(f"stage4: {describe_seeds(summary)} ({params.profile} profile)")


if __name__ == "__main__":
    main()
