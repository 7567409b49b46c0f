"""Every axis that counts epochs is marked at whole epochs only: a run has no epoch 1.5. Read from the figure
objects the report draws (not the PNG), with a history a few epochs long, where matplotlib's default ticks
fall between epochs."""
from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from cifar10_study.reporting import plots

EPOCHS = 3


def history(offset: float = 0.0) -> pd.DataFrame:
    epochs = range(1, EPOCHS + 1)
    return pd.DataFrame({"epoch": list(epochs), "train_acc": [0.3 + offset, 0.4, 0.5], "val_acc": [0.3, 0.35, 0.4],
                         "train_loss": [2.0, 1.8, 1.6], "val_loss": [2.1, 1.9, 1.8], "epoch_seconds": [1.0, 1.1, 0.9]})


DRAWINGS = {
    "study_val_accuracy": lambda path: plots.epoch_curves(
        pd.DataFrame({"Stage 1": [0.3, 0.35, 0.4]}, index=pd.Index(range(1, EPOCHS + 1), name="epoch")), path, "t"),
    "curves": lambda path: plots.curves(history(), path, "t"),
    "overfitting": lambda path: plots.overfitting({"a": history(), "b": history(0.01)}, path, "t"),
    "convergence": lambda path: plots.val_accuracy_curves({"a": history(), "b": history(0.01)}, path, "t", 0.35),
    "seed_curves": lambda path: plots.seed_curves({0: history(), 1: history(0.01)}, path, "t"),
}


@pytest.mark.parametrize("name", DRAWINGS)
def test_epoch_axes_are_marked_at_whole_epochs_only(name, tmp_path, monkeypatch):
    drawn: list[Figure] = []
    real_save = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, path: (drawn.append(fig), real_save(fig, path)))
    DRAWINGS[name](tmp_path / f"{name}.png")
    (fig,) = drawn
    epoch_axes = [ax for ax in fig.axes if ax.get_xlabel() == "epoch"]
    assert epoch_axes, name
    for ax in epoch_axes:
        labels = [label.get_text().replace("\N{MINUS SIGN}", "-") for label in ax.get_xticklabels()]
        assert labels and all(text.lstrip("-").isdigit() for text in labels), (name, labels)
