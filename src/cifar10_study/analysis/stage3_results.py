"""Stage 3's analysis, from runs/stage3/ and runs/stage3_ablations/<name>/: the full model and each
ablation's results (metrics/stage3.json) and validation curves (plots/stage3/val_accuracy.csv)."""
from __future__ import annotations

from ..core.fileio import write_csv, write_json
from ..core.layout import METRICS, PLOTS, STAGE3, STAGE3_ABLATIONS, run_name
from .run_records import history, lean, read_run, val_accuracy_by_epoch


def configurations() -> dict[str, str]:
    """Label -> run name: the full model ("stage3") first, then each ablation."""
    return {STAGE3: run_name(STAGE3), **{name: run_name(STAGE3, name) for name in STAGE3_ABLATIONS}}


def write_outputs() -> None:
    runs = configurations()
    write_json(METRICS / "stage3.json", {"configurations": {label: lean(read_run(run)) for label, run in runs.items()}})
    write_csv(PLOTS / STAGE3 / "val_accuracy.csv",
              val_accuracy_by_epoch({label: history(run) for label, run in runs.items()}), index=True)
