"""Reading what training runs wrote (runs/<run>/, laid out by layout.RunFiles): a run's record (its results
and info together), its per-epoch history and its test predictions."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.errors import StudyError
from ..core.fileio import read_json
from ..core.layout import RunFiles
from .outputs import TIMING_KEYS


def files(run: str) -> RunFiles:
    return RunFiles.of(run)


def exists(run: str) -> bool:
    """Whether the run finished (its results file is written last)."""
    return files(run).results.is_file()


def timing(run: str) -> dict:
    """The run's timing.json: TIMING_KEYS and provenance's machine and commit. A run restored from a DVC
    cache or remote has none (DVC ignores the file): then every value is None, "not recorded"."""
    path = files(run).timing
    if path.is_file():
        return read_json(path)
    return {**dict.fromkeys(TIMING_KEYS), "provenance": {"hardware": None, "git_commit": None, "git_dirty": None}}


def read_run(run: str) -> dict:
    """Results, info and timing of one run, with its name: everything a table or sentence about it needs
    (timings None where the run carries none, see timing())."""
    f = files(run)
    if not f.results.is_file():
        raise StudyError(f"{f.folder}: no finished run (results.json missing); run `dvc repro` to train it")
    info, times = read_json(f.info), timing(run)
    return {**read_json(f.results), **info, **times, "provenance": {**info["provenance"], **times["provenance"]}}


def history(run: str, timed: bool = True) -> pd.DataFrame:
    """The run's per-epoch history; `timed`: with each epoch's seconds (from timing.json; NaN where not
    recorded) as `epoch_seconds`."""
    table = pd.read_csv(files(run).history)
    if timed:
        table["epoch_seconds"] = pd.Series(timing(run)["epoch_seconds"], index=table.index, dtype=float)
    return table


def predictions(run: str) -> pd.DataFrame:
    return pd.read_csv(files(run).predictions)


def correct(table: pd.DataFrame) -> np.ndarray:
    """Whether each test image of a predictions table was classified right (bool [N])."""
    return (table["actual"] == table["predicted"]).to_numpy()


def steps(run: str) -> pd.DataFrame:
    return pd.read_csv(files(run).steps)


# What the git-tracked metrics files hold per run: the numbers compared across experiments, all
# deterministic on CPU (no timings, no config: those stay in the runs' info files).
METRIC_KEYS = ("test_accuracy", "test_loss", "final_val_accuracy", "final_train_accuracy", "parameters",
               "flops_per_image")


def lean(record: dict, keys: tuple[str, ...] = METRIC_KEYS) -> dict:
    return {k: record[k] for k in keys}


def val_accuracy_by_epoch(histories: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Validation accuracy per epoch, one column per run (label), indexed by epoch: the wide table that
    `dvc plots` draws as one line per column."""
    return pd.DataFrame({label: h.set_index("epoch")["val_acc"] for label, h in histories.items()}).rename_axis("epoch")
