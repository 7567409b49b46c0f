"""DVC stage `stage2@<variant>`: train one width/depth scaling variant of the baseline (runs/stage2/<variant>/)."""
from cifar10_study.core.cli import stage_argument, stage_entry
from cifar10_study.core.layout import STAGE2
from cifar10_study.experiments import stage2
from cifar10_study.training.stage import training_stage


@stage_entry
def main() -> None:
    name = stage_argument("variant (a key of stage2.variants in params.yaml)", required=True)
    with training_stage(f"{STAGE2}/{name}", stage2.Stage2Params) as stage:
        run = stage2.train_variant(stage.params, name, stage.data, stage.device, stage.checkpoints)
    print(f"stage2 {name}: test accuracy {run.results['test_accuracy']:.4f} ({stage.params.profile} profile)")


if __name__ == "__main__":
    main()
