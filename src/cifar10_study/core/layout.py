"""Where the study's runs live: the run folders training writes and analysis reads, and the names of the
files in them (what only the analysis reads or writes is in analysis/outputs.py, so that no training stage
depends on it). A leaf module (it imports nothing, not even the rest of core/), so that analysis can read runs
without importing training code, and an edit to the engine reruns no analysis stage.

    runs/<run>/           one training run (a DVC-cached stage output, see RunFiles)
    .cache/live/<run>/    a run's history while it trains (git-ignored, no DVC output)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

RUNS = Path("runs")
LIVE = Path(".cache/live")

# The results of a run: deterministic on CPU for given params and seed, the numbers `dvc metrics` compares.
# `parameters` is the model's trainable parameter count.
RESULT_KEYS = ("test_accuracy", "test_loss", "final_val_accuracy", "final_train_accuracy", "parameters",
               "flops_per_image", "epochs", "train_images", "test_images")

# --- the runs of each stage (as dvc.yaml names their outputs) --------------------------------------------
# A configuration trains once per seed of its `seeds` (core/seeds.py): its run folder holds one folder per seed,
# runs/<configuration>/seed_<n>/ (seed_run), but for the Stage 1 experiments, one stage per seed that trains
# every variant: runs/stage1_experiments/seed_<n>/<variant>/.
STAGE1 = "stage1"  # the baseline CNN: runs/stage1/<seed>/
STAGE1_EXPERIMENTS = "stage1_experiments"  # its variants: runs/stage1_experiments/<seed>/<variant>/
STAGE2 = "stage2"  # scaling variants: runs/stage2/<variant>/<seed>/
STAGE2_BASELINE = "baseline"  # Stage 2's name for the variants' baseline, which is the Stage 1 run


def variant_run(variant: str) -> str:
    """The runs of a Stage 2 scaling variant, e.g. stage2/width_x2; the baseline's are the Stage 1 runs."""
    return STAGE1 if variant == STAGE2_BASELINE else f"{STAGE2}/{variant}"


VANISHING, EXPLOSION = "stage2_vanishing", "stage2_explosion"  # the stress tests: one run each, no seeds
STAGE3 = "stage3"  # runs/stage3/<seed>/, ablations runs/stage3_ablations/<ablation>/<seed>/
STAGE4 = "stage4"  # runs/stage4/<seed>/
STAGE5 = "stage5"  # runs/stage5/<seed>/, ablations runs/stage5_ablations/<ablation>/<seed>/
# What a stage records besides its runs, in its runs folder: what was run, and what happened to each run.
EXPERIMENT_RECORD = "experiment.json"
SKIP_MARKER = "skipped.json"  # a seed stage the active profile does not train writes only this


def run_name(stage: str, ablation: str | None = None) -> str:
    """The full model's runs (`stage`) or an ablation's (`<stage>_ablations/<ablation>`), as dvc.yaml names them."""
    return stage if ablation is None else f"{stage}_ablations/{ablation}"


def seed_number(name: str) -> int:
    """seed_<n> -> n."""
    return int(name.removeprefix("seed_"))


def seeds_trained(seeds: Mapping[str, Sequence[str]], profile: str) -> list[int]:
    """The seeds trained at `profile`, ascending; `seeds` maps each seed_<n> to the profiles that train it (a
    `seeds` key of params.yaml)."""
    return sorted(seed_number(name) for name, profiles in seeds.items() if profile in profiles)


def seed_run(configuration: str, seed: int) -> str:
    """The run of one seed of a configuration, e.g. stage5_ablations/no_se/seed_1."""
    return f"{configuration}/seed_{seed}"


def live_history(run: str, root: Path = LIVE) -> Path:
    """The CSV of `run`'s epochs so far, rewritten after each one while it trains (training/progress.py)."""
    return Path(root) / run / "history.csv"


@dataclass(frozen=True)
class RunFiles:
    """The files of one run, in its folder (runs/<run name>/)."""

    folder: Path

    @classmethod
    def of(cls, run: str, root: Path = RUNS) -> "RunFiles":
        return cls(Path(root) / run)

    @property
    def results(self) -> Path:  # JSON: RESULT_KEYS; written last, so a folder with it is a finished run
        return self.folder / "results.json"

    @property
    def info(self) -> Path:  # JSON: config, provenance, runtime, per-class accuracy
        return self.folder / "info.json"

    @property
    def timing(self) -> Path:  # JSON: outputs.TIMING_KEYS; ignored by DVC (.dvcignore), absent in a restored run
        return self.folder / "timing.json"

    @property
    def history(self) -> Path:  # CSV, one row per epoch (the epoch times are in timing.json)
        return self.folder / "history.csv"

    @property
    def weights(self) -> Path:  # state_dict + resolved config
        return self.folder / "weights.pt"

    @property
    def predictions(self) -> Path:  # CSV, one row per test image: actual and predicted class, confidence
        return self.folder / "predictions.csv"

    @property
    def steps(self) -> Path:  # CSV, one row per training step: loss and gradient norm
        return self.folder / "steps.csv"
