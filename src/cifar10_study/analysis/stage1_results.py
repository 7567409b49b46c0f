"""Stage 1's analysis, from runs/stage1/<seed>/ and runs/stage1_experiments/<seed>/: the baseline's results
over its seeds (the reference every Stage 1-2 configuration is judged against) and confusion matrix, the
experiments' results (means over their seeds, each against the baseline's seed-noise floor), the collapse check
and the bottleneck sweep table.

`write_outputs` writes what git tracks for DVC's comparisons: metrics/stage1.json and
metrics/stage1_experiments.json (results only), and the tables under plots/stage1*/ that `dvc plots`
draws, the sweep's training times apart in plots/stage1_experiments/timing.csv (measurements.py). The report
reads the same records through the functions here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import sklearn.metrics

from ..core.fileio import read_json, write_csv, write_json
from ..core.layout import EXPERIMENT_RECORD, RUNS, STAGE1, STAGE1_EXPERIMENTS, seed_run
from ..core.schema import Profile, View
from ..data import CLASSES
from .comparisons import SeededRuns, SeedSettings, mean_val_curves
from .measurements import write_apart
from .outputs import METRICS, PLOTS
from .seed_noise import Difference
from .stats import StatisticsConfig

SWEEP_COLUMNS = ("parameters", "flops_per_image", "test_accuracy", "final_val_accuracy", "final_train_accuracy",
                 "train_seconds")
PARAMETER_BUDGET = 1_000_000  # the baseline CNN's brief: fewer trainable parameters than this


def within_budget(parameters: int) -> bool:
    return parameters < PARAMETER_BUDGET


class Stage1AnalysisParams(View):
    """What the stage1_analysis stage reads: which seeds trained, and the significance level."""

    profile: Profile
    stage1: SeedSettings
    stage1_experiments: SeedSettings
    statistics: StatisticsConfig = StatisticsConfig()


def baseline(profile: Profile, seeds: SeedSettings) -> SeededRuns:
    """The baseline's runs over the seeds `seeds` trains at `profile` (stage1.seeds)."""
    return SeededRuns.load(STAGE1, seeds.trained(profile))


def experiments(profile: Profile, seeds: SeedSettings) -> dict:
    """The experiments' record of their first seed (collapse check, sweep settings) with, per variant, its runs
    over the seeds (`seeded`) and their mean record (`runs`), and every seed's collapse check."""
    folders = {seed: seed_run(STAGE1_EXPERIMENTS, seed) for seed in seeds.trained(profile)}
    records = {seed: read_json(RUNS / folder / EXPERIMENT_RECORD) for seed, folder in folders.items()}
    first = records[next(iter(records))]
    seeded = {name: SeededRuns.from_runs(f"{STAGE1_EXPERIMENTS}/{name}",
                                         {seed: f"{folder}/{name}" for seed, folder in folders.items()})
              for name in first["variants"]}
    return {**first, "collapse_by_seed": {seed: r["collapse"] for seed, r in records.items()}, "seeded": seeded,
            "runs": {name: runs.mean_record() for name, runs in seeded.items()}}


def against_baseline(exp: dict, base: SeededRuns, alpha: float) -> dict[str, Difference]:
    """Every experiment against the baseline, judged against the seed-noise floor."""
    return {name: Difference.of(runs, base, alpha) for name, runs in exp["seeded"].items()}


def bottleneck_table(exp: dict) -> pd.DataFrame:
    """One row per bottleneck width, narrowest first."""
    return pd.DataFrame([{"width": w, **{k: exp["runs"][f"bottleneck_{w}"][k] for k in SWEEP_COLUMNS}}
                         for w in sorted(exp["bottleneck_widths"])])


def confusion_matrix(table: pd.DataFrame) -> np.ndarray:
    """[10, 10] counts from a predictions table (class names), rows = true class, columns = predicted."""
    index = {name: i for i, name in enumerate(CLASSES)}
    return sklearn.metrics.confusion_matrix(table["actual"].map(index).to_numpy(),
                                            table["predicted"].map(index).to_numpy(),
                                            labels=list(range(len(CLASSES))))


def every_seed_predictions(runs: SeededRuns) -> pd.DataFrame:
    """The test predictions of every seed, one after another (the confusion matrix counts them all)."""
    return pd.concat([runs.predictions[seed] for seed in runs.seeds], ignore_index=True)


def write_outputs(params: Stage1AnalysisParams) -> None:
    base = baseline(params.profile, params.stage1)
    exp = experiments(params.profile, params.stage1_experiments)
    write_json(METRICS / "stage1.json", base.metrics())
    against = against_baseline(exp, base, params.statistics.alpha)
    write_json(METRICS / "stage1_experiments.json", {
        "runs": {name: {**runs.metrics(("test_accuracy", "final_val_accuracy", "parameters")),
                        "against_baseline": against[name].metrics()}
                 for name, runs in exp["seeded"].items()},
        "collapse": {f"seed_{seed}": {name: {"is_affine": fit["is_affine"],
                                             "max_rel_diff_float32": fit["max_rel_diff_float32"]}
                                      for name, fit in collapse.items()}
                     for seed, collapse in exp["collapse_by_seed"].items()},
    })
    table = every_seed_predictions(base)
    write_csv(PLOTS / STAGE1 / "history.csv", base.mean_history().drop(columns="epoch_seconds"))
    write_csv(PLOTS / STAGE1 / "predictions.csv", table)
    write_json(PLOTS / STAGE1 / "confusion_matrix.json", {
        "classes": list(CLASSES), "rows": "true class", "columns": "predicted class",
        "matrix": confusion_matrix(table).tolist()})
    write_apart(PLOTS / STAGE1_EXPERIMENTS / "bottleneck.csv", bottleneck_table(exp), key="width")
    write_csv(PLOTS / STAGE1_EXPERIMENTS / "val_accuracy.csv", mean_val_curves(exp["seeded"]), index=True)
