"""Training diagnostics from a run's files: the overfitting point, the generalisation gap, the loss spread
(optimisation stability), when a run reaches an accuracy, and least-squares fits of cost against scale."""
from __future__ import annotations

import numpy as np
import pandas as pd

CHANCE = 0.1  # accuracy of guessing among CIFAR-10's 10 balanced classes


def overfitting_summary(history: pd.DataFrame) -> dict:
    """Where validation loss bottoms out, and the train-minus-val accuracy gap."""
    gap = history["train_acc"] - history["val_acc"]
    best = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    return {
        "best_val_loss_epoch": best,
        "best_val_loss": float(history["val_loss"].min()),
        "final_val_loss": float(history["val_loss"].iloc[-1]),
        "epochs_past_best": int(history["epoch"].iloc[-1]) - best,
        "final_gap": float(gap.iloc[-1]),
        "max_gap": float(gap.max()),
    }


def loss_spread(steps: pd.DataFrame, window: int) -> pd.Series:
    """Rolling standard deviation of the training loss over `window` steps (optimisation noise); the
    window shrinks to half the run for runs shorter than two windows."""
    window = max(2, min(window, len(steps) // 2))
    return steps["loss"].rolling(window, min_periods=window).std()


def stability_summary(steps: pd.DataFrame, window: int) -> dict:
    """Loss spread and gradient norm over the second half of training (after the initial transient)."""
    spread = loss_spread(steps, window)
    late = steps.index >= len(steps) // 2
    return {
        "loss_spread_median": float(spread[late].median()),
        "grad_norm_median": float(steps["grad_norm"][late].median()),
        "grad_norm_max": float(steps["grad_norm"].max()),
    }


def first_epoch_reaching(history: pd.DataFrame, target: float) -> tuple[int | None, float | None]:
    """The first epoch whose validation accuracy reaches `target`, and the training seconds up to it (None
    where an epoch's time is not recorded); (None, None) if no epoch reaches it."""
    reached = history.index[history["val_acc"] >= target]
    if len(reached) == 0:
        return None, None
    i = reached[0]
    seconds = history["epoch_seconds"].loc[:i]
    return int(history.loc[i, "epoch"]), (None if seconds.isna().any() else float(seconds.sum()))


def quadratic_fit(x, y) -> dict:
    """Least-squares y = a x^2 + b x + c and its R^2, over the finite points; None with fewer than 3."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return None
    coeffs = np.polyfit(x, y, 2)
    pred = np.polyval(coeffs, x)
    ss_res, ss_tot = float(((y - pred) ** 2).sum()), float(((y - y.mean()) ** 2).sum())
    return {"a": float(coeffs[0]), "b": float(coeffs[1]), "c": float(coeffs[2]),
            "r2": 1.0 - ss_res / ss_tot if ss_tot else 1.0}
