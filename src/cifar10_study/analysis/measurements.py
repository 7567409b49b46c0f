"""What the machine measured, apart from the results: seconds, memory and images/s of a run (and, in the report,
the hardware and the commit it was rendered at). An identical rerun changes them, so they never enter an output
DVC tracks (which would then look changed, and change dvc.lock). One rule for every stage: they go to timing
files beside its outputs, a file named `timing.*` or a folder `timing/` (runs/<run>/timing.json, plots/<stage>/
timing.csv, reports/timing.md, reports/figures/timing/), which .dvcignore keeps out of DVC's hashes and git
still tracks under plots/ and reports/. The declared outputs hold only deterministic results."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.fileio import write_csv
from .outputs import TIMING_KEYS

# Every column a table can hold that the machine measured: a run's timing.json keys, the Stage 2 variants' mean
# epoch time, and the explosion test's time per step (its memory per step is a timing key).
MEASURED = frozenset({*TIMING_KEYS, "mean_epoch_seconds", "seconds_per_step"})
TIMING_CSV = "timing.csv"  # the measured columns of a plots/<stage>/ table, beside it


def measured_columns(table: pd.DataFrame) -> list[str]:
    return [column for column in table.columns if column in MEASURED]


def results_only(table: pd.DataFrame) -> pd.DataFrame:
    """The table without its measured columns: what a DVC-tracked output may hold."""
    return table.drop(columns=measured_columns(table))


def write_apart(path: Path, table: pd.DataFrame, key: str) -> None:
    """`table` to `path` without its measured columns, and those, with the `key` column that names each row,
    to timing.csv beside it (where some are; a table of a stage restored from a DVC cache may have none)."""
    write_csv(path, results_only(table))
    measured = measured_columns(table)
    if measured:
        write_csv(path.parent / TIMING_CSV, table[[key, *measured]])
