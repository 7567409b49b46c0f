"""Reading what training runs wrote (runs/<run>/, laid out by training.runs.RunFiles): a run's record
(its results and info together), its per-epoch history and its test predictions."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.errors import StudyError
from ..core.fileio import read_json
from ..training.runs import RunFiles

# What the analysis stages write for git: results (`dvc metrics`) and tables (`dvc plots`).
METRICS, PLOTS = Path("metrics"), Path("plots")


def files(run: str) -> RunFiles:
    return RunFiles.of(run)


def exists(run: str) -> bool:
    """Whether the run finished (its results file is written last)."""
    return files(run).results.is_file()


def read_run(run: str) -> dict:
    """Results and info of one run, with its name: everything a table or sentence about it needs."""
    f = files(run)
    if not f.results.is_file():
        raise StudyError(f"{f.folder}: no finished run (results.json missing); run `dvc repro` to train it")
    return {**read_json(f.results), **read_json(f.info)}


def history(run: str, timed: bool = True) -> pd.DataFrame:
    """The run's per-epoch history; `timed`: with each epoch's seconds (from info.json) as `epoch_seconds`."""
    table = pd.read_csv(files(run).history)
    if timed:
        table["epoch_seconds"] = read_json(files(run).info)["epoch_seconds"]
    return table


def predictions(run: str) -> pd.DataFrame:
    return pd.read_csv(files(run).predictions)


def steps(run: str) -> pd.DataFrame:
    return pd.read_csv(files(run).steps)


# What the git-tracked metrics files hold per run: the numbers compared across experiments, all
# deterministic on CPU (no timings, no config: those stay in the runs' info files).
METRIC_KEYS = ("test_accuracy", "test_loss", "final_val_accuracy", "final_train_accuracy", "params", "flops_per_image")


def lean(record: dict, keys: tuple[str, ...] = METRIC_KEYS) -> dict:
    return {k: record[k] for k in keys}


def val_accuracy_by_epoch(histories: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Validation accuracy per epoch, one column per run (label), indexed by epoch: the wide table that
    `dvc plots` draws as one line per column."""
    return pd.DataFrame({label: h.set_index("epoch")["val_acc"] for label, h in histories.items()}).rename_axis("epoch")
