"""Stage 1's analysis, from runs/stage1/ and runs/stage1_experiments/: the baseline's results and
confusion matrix, the experiments' results, the collapse check and the bottleneck sweep table.

`write_outputs` writes what git tracks for DVC's comparisons: metrics/stage1.json and
metrics/stage1_experiments.json (results only), and the tables under plots/stage1*/ that `dvc plots`
draws. The report reads the same records through the functions here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.fileio import read_json, write_csv, write_json
from ..data import CLASSES
from ..experiments.stage1 import BASELINE, EXPERIMENT_RECORD, EXPERIMENTS
from ..training.measure import confusion
from .runs import METRICS, PLOTS, history, lean, predictions, read_run, val_accuracy_by_epoch

SWEEP_COLUMNS = ("params", "flops_per_image", "test_accuracy", "final_val_accuracy", "final_train_accuracy",
                 "train_seconds")


def baseline() -> dict:
    return read_run(BASELINE)


def experiments() -> dict:
    """The experiments stage's record (collapse check, sweep settings) with every variant's run record."""
    record = read_json(EXPERIMENT_RECORD)
    return {**record, "runs": {name: read_run(f"{EXPERIMENTS}/{name}") for name in record["variants"]}}


def bottleneck_table(exp: dict) -> pd.DataFrame:
    """One row per bottleneck width, narrowest first."""
    return pd.DataFrame([{"width": w, **{k: exp["runs"][f"bottleneck_{w}"][k] for k in SWEEP_COLUMNS}}
                         for w in sorted(exp["bottleneck_widths"])])


def confusion_matrix(table: pd.DataFrame) -> np.ndarray:
    """[10, 10] counts from a predictions table (class names), rows = true class, columns = predicted."""
    index = {name: i for i, name in enumerate(CLASSES)}
    return confusion(table["actual"].map(index).to_numpy(), table["predicted"].map(index).to_numpy())


def write_outputs() -> None:
    base, exp = baseline(), experiments()
    write_json(METRICS / "stage1.json", lean(base))
    write_json(METRICS / "stage1_experiments.json", {
        "runs": {name: lean(run, ("test_accuracy", "final_val_accuracy", "params")) for name, run in exp["runs"].items()},
        "collapse": {name: {"is_affine": fit["is_affine"], "max_rel_diff_float32": fit["max_rel_diff_float32"]}
                     for name, fit in exp["collapse"].items()},
    })
    table = predictions(BASELINE)
    write_csv(PLOTS / BASELINE / "history.csv", history(BASELINE, timed=False))
    write_csv(PLOTS / BASELINE / "predictions.csv", table)
    write_json(PLOTS / BASELINE / "confusion_matrix.json", {
        "classes": list(CLASSES), "rows": "true class", "columns": "predicted class",
        "matrix": confusion_matrix(table).tolist()})
    write_csv(PLOTS / EXPERIMENTS / "bottleneck.csv", bottleneck_table(exp))
    write_csv(PLOTS / EXPERIMENTS / "val_accuracy.csv",
              val_accuracy_by_epoch({name: history(f"{EXPERIMENTS}/{name}") for name in exp["variants"]}), index=True)
