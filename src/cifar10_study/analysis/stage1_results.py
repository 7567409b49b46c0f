"""Stage 1's analysis, from runs/stage1/ and runs/stage1_experiments/: the baseline's results and
confusion matrix, the experiments' results, the collapse check and the bottleneck sweep table.

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
from ..core.layout import EXPERIMENT_RECORD, RUNS, STAGE1, STAGE1_EXPERIMENTS
from ..data import CLASSES
from .measurements import write_apart
from .outputs import METRICS, PLOTS
from .run_records import history, lean, predictions, read_run, val_accuracy_by_epoch

SWEEP_COLUMNS = ("parameters", "flops_per_image", "test_accuracy", "final_val_accuracy", "final_train_accuracy",
                 "train_seconds")
PARAMETER_BUDGET = 1_000_000  # the baseline CNN's brief: fewer trainable parameters than this


def within_budget(parameters: int) -> bool:
    return parameters < PARAMETER_BUDGET


def baseline() -> dict:
    return read_run(STAGE1)


def experiments() -> dict:
    """The experiments stage's record (collapse check, sweep settings) with every variant's run record."""
    record = read_json(RUNS / STAGE1_EXPERIMENTS / EXPERIMENT_RECORD)
    return {**record, "runs": {name: read_run(f"{STAGE1_EXPERIMENTS}/{name}") for name in record["variants"]}}


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


def write_outputs() -> None:
    base, exp = baseline(), experiments()
    write_json(METRICS / "stage1.json", lean(base))
    write_json(METRICS / "stage1_experiments.json", {
        "runs": {name: lean(run, ("test_accuracy", "final_val_accuracy", "parameters"))
                 for name, run in exp["runs"].items()},
        "collapse": {name: {"is_affine": fit["is_affine"], "max_rel_diff_float32": fit["max_rel_diff_float32"]}
                     for name, fit in exp["collapse"].items()},
    })
    table = predictions(STAGE1)
    write_csv(PLOTS / STAGE1 / "history.csv", history(STAGE1, timed=False))
    write_csv(PLOTS / STAGE1 / "predictions.csv", table)
    write_json(PLOTS / STAGE1 / "confusion_matrix.json", {
        "classes": list(CLASSES), "rows": "true class", "columns": "predicted class",
        "matrix": confusion_matrix(table).tolist()})
    write_apart(PLOTS / STAGE1_EXPERIMENTS / "bottleneck.csv", bottleneck_table(exp), key="width")
    write_csv(PLOTS / STAGE1_EXPERIMENTS / "val_accuracy.csv",
              val_accuracy_by_epoch({name: history(f"{STAGE1_EXPERIMENTS}/{name}") for name in exp["variants"]}),
              index=True)
