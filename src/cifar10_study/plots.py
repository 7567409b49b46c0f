"""Figures, drawn with matplotlib's object-oriented API (no pyplot, so no global state or GUI backend)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay

from .fileio import atomic_path


def save(fig: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=120, bbox_inches="tight")


def curves(history: pd.DataFrame, path: str | Path, title: str) -> None:
    """Accuracy and loss against epoch, train vs validation."""
    fig = Figure(figsize=(10, 3.6))
    acc, loss = fig.subplots(1, 2)
    for ax, metric, label in ((acc, "acc", "accuracy"), (loss, "loss", "loss (cross-entropy)")):
        ax.plot(history["epoch"], history[f"train_{metric}"], marker="o", label="train (augmented)")
        ax.plot(history["epoch"], history[f"val_{metric}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
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
