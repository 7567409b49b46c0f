"""Progress to watch while a run trains: one line per epoch on stderr, printed whether or not stderr is a
terminal (DVC's log, a Slurm job's file), and the run's history so far in a live CSV that any tool can
read during training (`.cache/live/<run>/history.csv`, layout.live_history). Neither changes a result:
they only read what the epoch has already computed.

The live file is the project's own history, rewritten whole after every epoch from the rows the run
keeps anyway (the same rows a resume checkpoint holds, so a resumed run's file continues where the
checkpoint left off). It lies outside the stage's DVC outputs, so it changes no output hash and needs
neither a new dependency nor an entry in dvc.yaml.
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import TextIO

import pandas as pd
from tqdm.auto import tqdm

from ..core.fileio import write_csv


def clock(seconds: float) -> str:
    """Seconds as h:mm:ss (or m:ss under an hour)."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def epoch_line(run: str, row: dict, epochs: int, epoch_seconds: float, seconds_left: float) -> str:
    """`run epoch 3/200  train loss 1.2345 acc 55.10%  val acc 60.20%  lr 0.0999  12.3 s/epoch  0:40:12 left`;
    the validation accuracy only where the run has a validation split."""
    val = f"  val acc {100 * row['val_acc']:.2f}%" if row.get("val_acc") is not None else ""
    return (f"{run} epoch {row['epoch']}/{epochs}  train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.2f}%"
            f"{val}  lr {row['lr']:.4g}  {epoch_seconds:.1f} s/epoch  {clock(seconds_left)} left")


class EpochProgress:
    """What train() reports after each epoch (on the main process only; `enabled` False reports nothing).

    Time left = epochs still to train x the typical epoch: the median of the epochs this process has
    trained after its first (which also pays one-time costs: compilation, autotuning), or the first while
    it is the only one. An epoch here is its training steps plus its validation."""

    def __init__(self, run: str, epochs: int, live_history: Path | None = None, enabled: bool = True,
                 stream: TextIO | None = None):
        self.run, self.epochs, self.live_history, self.enabled = run, epochs, live_history, enabled
        self.stream = stream
        self.seconds: list[float] = []

    def start(self, history: list[dict]) -> None:
        """A run starts (history empty: a stale live file of an earlier run is removed) or resumes (the live
        file holds the checkpoint's epochs, those after it are trained again)."""
        if self.enabled and self.live_history is not None:
            if history:
                write_csv(self.live_history, pd.DataFrame(history), immediate=True)
            else:
                self.live_history.unlink(missing_ok=True)

    def epoch_done(self, history: list[dict], seconds: float) -> None:
        """The epoch just trained is history[-1]; `seconds` its wall time."""
        if not self.enabled:
            return
        self.seconds.append(seconds)
        typical = statistics.median(self.seconds[1:]) if len(self.seconds) > 1 else seconds
        row = history[-1]
        left = (self.epochs - row["epoch"]) * typical
        # tqdm.write keeps a step bar on a terminal below the line instead of breaking it.
        tqdm.write(epoch_line(self.run, row, self.epochs, seconds, left), file=self.stream or sys.stderr)
        if self.live_history is not None:
            write_csv(self.live_history, pd.DataFrame(history), immediate=True)
