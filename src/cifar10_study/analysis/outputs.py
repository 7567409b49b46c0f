"""What only the analysis and the report read or write, kept out of core/layout.py so that no training stage
depends on it: the folders the analysis writes for git, and the keys of a run's timing file.

    metrics/, plots/      what the analysis stages write for `dvc metrics` / `dvc plots` (git-tracked)
"""
from __future__ import annotations

from pathlib import Path

METRICS, PLOTS = Path("metrics"), Path("plots")
# How long, how much memory and where: what an identical rerun changes (a run's timing.json, which training
# writes beside its results and DVC ignores; provenance's machine and commit are in its "provenance" entry).
TIMING_KEYS = ("train_seconds", "images_per_second", "steady_epoch_seconds", "epoch_seconds", "warmup_seconds",
               "peak_memory_bytes", "peak_memory_kind")
