"""Every axis that counts epochs is marked at whole epochs only: a run has no epoch 1.5. Read from the figure
objects the report draws (not the PNG), with a history a few epochs long, where matplotlib's default ticks
fall between epochs. The Stage 1-2 figures draw what their titles say of the seeds."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from matplotlib.figure import Figure

from cifar10_study.reporting import figures, plots

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


def test_the_stage1_and_stage2_figures_draw_the_seeds_as_their_titles_say(monkeypatch):
    """The Stage 1 curves are the mean over the baseline's seeds, its confusion matrix pools every seed's test
    predictions, and the stability figure draws each variant's first seed (the lowest, whatever the order read)."""
    drawn = {}
    for name in ("curves", "confusion", "overfitting", "stability"):
        monkeypatch.setattr(plots, name, lambda *args, _name=name: drawn.__setitem__(_name, args))
    steps = {seed: pd.DataFrame({"step": [1, 2], "loss": [2.0, 1.0 + seed], "grad_norm": [1.0, 1.0]})
             for seed in (0, 1, 2)}
    predictions = pd.DataFrame({"actual": ["cat"] * 3 + ["dog"] * 3, "predicted": ["cat", "cat", "dog"] + ["dog"] * 3})
    study = SimpleNamespace(
        profile="quick", baseline={"seeds": [0, 1, 2]}, histories={"stage1": history()},
        stage1_predictions=predictions, experiments=None,
        stage2=SimpleNamespace(histories={"baseline": history()}, steps={"baseline": {2: steps[2], 0: steps[0]},
                                                                         "width_x2": {1: steps[1]}}),
        params=SimpleNamespace(stage2=SimpleNamespace(loss_window=2)))
    figures._stage1(study)
    figures._stage2(study)
    assert drawn["curves"][0] is study.histories["stage1"]
    assert drawn["curves"][2] == "Stage 1 baseline CNN, mean of 3 seed(s) (quick profile)"
    matrix = drawn["confusion"][0]
    assert matrix.sum() == 6 and matrix.trace() == 5  # every row of the pooled predictions counted
    assert drawn["confusion"][3] == "Stage 1 baseline: test confusion matrix, 3 seed(s) pooled (quick profile)"
    assert drawn["stability"][0] == {"baseline": steps[0], "width_x2": steps[1]} and drawn["stability"][1] == 2
    assert drawn["stability"][3] == "Stage 2: optimisation stability, each variant's first seed (quick profile)"
