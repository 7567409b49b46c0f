"""DVC stage `stage2_diagnostics`: overfitting and stability summaries and figures of the variants."""
from cifar10_study.experiments import stage2
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.config import load_params


@stage_entry
def main() -> None:
    summary = stage2.run_diagnostics(load_params())
    print(f"stage2_diagnostics: {len(summary['variants'])} variants summarised")


if __name__ == "__main__":
    main()
