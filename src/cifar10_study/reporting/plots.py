"""Figures, drawn with matplotlib's object-oriented API (no pyplot, so no global state or GUI backend)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import ConfusionMatrixDisplay

from ..analysis.diagnostics import loss_spread
from ..core.fileio import atomic_path

FIGURES = Path("reports/figures")  # every figure of the report
# The figures of what the machine measured (time, memory): DVC ignores the folder (analysis/measurements.py).
TIMING_FIGURES = FIGURES / "timing"


def save(fig: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=120, bbox_inches="tight")


def epoch_axis(ax: Axes) -> None:
    """Label the x axis "epoch" and mark it at whole epochs only: a run has no epoch 1.5."""
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def curves(history: pd.DataFrame, path: str | Path, title: str) -> None:
    """Accuracy and loss against epoch, train vs validation."""
    fig = Figure(figsize=(10, 3.6))
    acc, loss = fig.subplots(1, 2)
    for ax, metric, label in ((acc, "acc", "accuracy"), (loss, "loss", "loss (cross-entropy)")):
        ax.plot(history["epoch"], history[f"train_{metric}"], marker="o", label="train (augmented)")
        ax.plot(history["epoch"], history[f"val_{metric}"], marker="o", label="validation")
        epoch_axis(ax)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    save(fig, path)


def confusion(cm: np.ndarray, classes: list[str], path: str | Path, title: str) -> None:
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    ConfusionMatrixDisplay(cm, display_labels=classes).plot(ax=ax, xticks_rotation=45, colorbar=False,
                                                            values_format="d")
    ax.set_title(title)
    save(fig, path)


def accuracy_vs_width(table: pd.DataFrame, path: str | Path, title: str, baseline_width: int) -> None:
    """Test and validation accuracy against the channel width of the squeezed layer (log2 axis)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(table["width"], table["test_accuracy"], marker="o", label="test")
    ax.plot(table["width"], table["final_val_accuracy"], marker="s", linestyle="--", label="validation")
    ax.axvline(baseline_width, color="grey", linestyle=":", label=f"baseline width {baseline_width}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("channels in the bottleneck layer")
    ax.set_ylabel("final-epoch accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    save(fig, path)


def _colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def overfitting(histories: dict[str, pd.DataFrame], path: str | Path, title: str) -> None:
    """Per variant: train (solid) and validation (dashed) accuracy, and their gap, against epoch."""
    fig = Figure(figsize=(11, 4))
    acc, gap = fig.subplots(1, 2)
    for color, (name, h) in zip(_colors(len(histories)), histories.items()):
        acc.plot(h["epoch"], h["train_acc"], color=color, marker="o", label=f"{name} train")
        acc.plot(h["epoch"], h["val_acc"], color=color, marker="s", linestyle="--", label=f"{name} val")
        gap.plot(h["epoch"], h["train_acc"] - h["val_acc"], color=color, marker="o", label=name)
        best = h.loc[h["val_loss"].idxmin()]
        gap.axvline(best["epoch"], color=color, linestyle=":", alpha=0.6)
    acc.set(ylabel="accuracy", title="train (solid) vs validation (dashed)")
    gap.set(ylabel="train acc - val acc", title="generalisation gap (dotted: min val loss)")
    for ax in (acc, gap):
        epoch_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    save(fig, path)


def stability(steps: dict[str, pd.DataFrame], window: int, path: str | Path, title: str) -> None:
    """Per variant: rolling std of the training loss and the global gradient norm, against step."""
    fig = Figure(figsize=(11, 4))
    spread, norm = fig.subplots(1, 2)
    for color, (name, s) in zip(_colors(len(steps)), steps.items()):
        spread.plot(s["step"], loss_spread(s, window), color=color, label=name)
        norm.plot(s["step"], s["grad_norm"], color=color, alpha=0.8, linewidth=0.8, label=name)
    spread.set(xlabel="step", ylabel=f"std of training loss over {window} steps", title="loss spread")
    norm.set(xlabel="step", ylabel="gradient L2 norm", yscale="log", title="gradient norm")
    for ax in (spread, norm):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    save(fig, path)


def grad_norms_by_layer(table: pd.DataFrame, path: str | Path, title: str) -> None:
    """Gradient norm (log) against layer index, one colour per depth, one line style per step."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    styles = ["-", "--", ":", "-."]
    steps = sorted(table["step"].unique())
    for color, (depth, g) in zip(_colors(table["depth"].nunique()), table.groupby("depth")):
        for style, step in zip(styles, steps):
            s = g[g["step"] == step]
            if not s.empty:
                label = f"depth {depth}, " + ("at init" if step == 0 else f"step {step}")
                ax.plot(s["layer"], s["grad_norm"], color=color, linestyle=style, marker=".", label=label)
    ax.set(xlabel="layer (1 = input side; last = classifier)", ylabel="gradient L2 norm of the weights",
           yscale="log", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    save(fig, path)


def scaling(table: pd.DataFrame, fits: dict, path: str | Path, title: str) -> None:
    """Parameters and FLOPs against width (counted, the same on every machine), with the quadratic fits."""
    _against_width(table, fits, [("parameters", "parameters", 1), ("flops_per_image", "forward FLOPs per image", 1)],
                   "counted", path, title)


def measured_scaling(table: pd.DataFrame, fits: dict, path: str | Path, title: str, batch_size: int) -> None:
    """Memory and time of a training step against width, as this machine measured them, with the quadratic fits."""
    _against_width(table, fits, [("peak_memory_bytes", f"peak memory of a step, batch {batch_size} (MiB)", 2 ** 20),
                                 ("seconds_per_step", f"seconds per training step, batch {batch_size}", 1)],
                   "measured", path, title)


def _against_width(table: pd.DataFrame, fits: dict, panels: list[tuple[str, str, float]], how: str,
                   path: str | Path, title: str) -> None:
    """One panel per (column, axis label, unit) against width: the points `table` has, and the column's fit."""
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, len(panels))
    grid = np.linspace(table["width"].min(), table["width"].max(), 100)
    for ax, (column, label, unit) in zip(axes, panels):
        if column in table:  # memory and time exist only once some width was measured
            points = table[table[column].notna()]
            ax.plot(points["width"], points[column] / unit, "o", label=how)
        fit = fits.get(column)
        if fit:
            ax.plot(grid, (fit["a"] * grid ** 2 + fit["b"] * grid + fit["c"]) / unit, "--",
                    label=f"quadratic fit, R² = {fit['r2']:.4f}")
        ax.set(xlabel="width multiplier", ylabel=label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    save(fig, path)


def val_accuracy_curves(histories: dict[str, pd.DataFrame], path: str | Path, title: str, target: float) -> None:
    """Validation accuracy against epoch, one line per model, and the target accuracy."""
    _val_accuracy_against(histories, False, path, title, target)


def val_accuracy_by_time(histories: dict[str, pd.DataFrame], path: str | Path, title: str, target: float) -> None:
    """Validation accuracy against cumulative training seconds on this machine, one line per model."""
    _val_accuracy_against(histories, True, path, title, target)


def _val_accuracy_against(histories: dict[str, pd.DataFrame], by_time: bool, path: str | Path, title: str,
                          target: float) -> None:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for color, (name, h) in zip(_colors(len(histories)), histories.items()):
        ax.plot(h["epoch_seconds"].cumsum() if by_time else h["epoch"], h["val_acc"], color=color, marker="o",
                label=name)
    ax.axhline(target, color="grey", linestyle=":", label=f"target {100 * target:.1f}%")
    if by_time:
        ax.set_xlabel("training seconds (this machine)")
    else:
        epoch_axis(ax)
    ax.set(ylabel="validation accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)


def seed_curves(histories: dict[int, pd.DataFrame], path: str | Path, title: str) -> None:
    """Train (dashed) and validation (solid) accuracy per epoch, one colour per seed."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for color, (seed, h) in zip(_colors(len(histories)), histories.items()):
        ax.plot(h["epoch"], h["train_acc"], color=color, linestyle="--", label=f"seed {seed} train")
        if h["val_acc"].notna().any():  # a run that trained on its validation split has no curve
            ax.plot(h["epoch"], h["val_acc"], color=color, marker="o", label=f"seed {seed} val")
    ax.set(ylabel="accuracy", title=title)
    epoch_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)


def epoch_curves(curves: pd.DataFrame, path: str | Path, title: str, ylabel: str = "validation accuracy") -> None:
    """One line per column of `curves` (index: epoch); columns may end at different epochs (NaN)."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for color, column in zip(_colors(len(curves.columns)), curves.columns):
        series = curves[column].dropna()
        ax.plot(series.index, series.values, color=color, marker="o", markersize=3, label=column)
    ax.set(ylabel=ylabel, title=title)
    epoch_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)


def reliability(bins: pd.DataFrame, reference: str, path: str | Path, title: str) -> None:
    """Reliability diagrams: accuracy against mean confidence per bin, one panel per configuration of
    `bins` (columns configuration, confidence, accuracy) other than `reference`, which every panel also
    shows; the diagonal is perfect calibration."""
    others = [c for c in bins["configuration"].unique() if c != reference]
    fig = Figure(figsize=(3.6 * max(len(others), 1), 3.8))
    axes = np.atleast_1d(fig.subplots(1, max(len(others), 1), sharey=True))
    ref = bins[bins["configuration"] == reference]
    for ax, name in zip(axes, others):
        mine = bins[bins["configuration"] == name]
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
        ax.plot(ref["confidence"], ref["accuracy"], marker="o", markersize=3, label=reference)
        ax.plot(mine["confidence"], mine["accuracy"], marker="s", markersize=3, label=name)
        ax.set(xlabel="confidence (mean in bin)", xlim=(0, 1), ylim=(0, 1), title=name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("accuracy in bin")
    fig.suptitle(title)
    save(fig, path)
