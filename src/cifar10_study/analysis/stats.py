"""Small, pure statistics for comparing two training configurations A and B over seeds.

Welch's t interval compares mean test accuracy across seeds; the exact McNemar test compares per-image
correctness on the shared test set, for when there are too few seeds to estimate a variance.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

WELCH_BASIS = "Welch {pct:g}% CI"
MCNEMAR_BASIS = "McNemar (exact, pooled over matched seeds)"


def summarize(values: Sequence[float]) -> dict:
    """{"n", "mean", "std"} of `values` (in their own units, e.g. accuracy in [0, 1]).

    `std` is the sample standard deviation (ddof=1); None for a single value, which has no spread
    estimate. Raises ValueError on empty input.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("summarize() needs at least one value")
    std = float(x.std(ddof=1)) if x.size >= 2 else None
    return {"n": int(x.size), "mean": float(x.mean()), "std": std}


def welch_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """mean(a) - mean(b) with a two-sided Welch t confidence interval and p value.

    Returns {"difference", "ci_low", "ci_high", "df", "p_value", "n_a", "n_b", "confidence"}; the
    difference and interval are in the units of the inputs, df is the Welch–Satterthwaite degrees of
    freedom. With fewer than 2 values on a side, or zero variance on both, there is no variance
    estimate to build a t statistic from, so ci_low / ci_high / df / p_value are None.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    sa, sb = summarize(a), summarize(b)
    result = {
        "difference": sa["mean"] - sb["mean"],
        "ci_low": None,
        "ci_high": None,
        "df": None,
        "p_value": None,
        "n_a": sa["n"],
        "n_b": sb["n"],
        "confidence": confidence,
    }
    if sa["std"] is None or sb["std"] is None:
        return result
    # Squared standard errors of each mean; Welch does not pool them (variances may differ).
    va = sa["std"] ** 2 / sa["n"]
    vb = sb["std"] ** 2 / sb["n"]
    if va + vb == 0.0:
        return result
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (sa["n"] - 1) + vb**2 / (sb["n"] - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    t_stat = result["difference"] / se
    result.update(
        ci_low=result["difference"] - half,
        ci_high=result["difference"] + half,
        df=float(df),
        # Two-sided: probability of a |t| at least this large under equal means.
        p_value=float(2 * stats.t.sf(abs(t_stat), df)),
    )
    return result


def _counts(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, int]:
    """(A right & B wrong, A wrong & B right, n images) for two per-image correctness arrays."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"need two 1-D arrays of equal length, got shapes {a.shape} and {b.shape}")
    return int(np.sum(a & ~b)), int(np.sum(~a & b)), int(a.size)


def _exact_p(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p value: the discordant pairs split as Binomial(a_only + b_only, 1/2)."""
    if a_only + b_only == 0:
        return 1.0  # no discordant images: no evidence either way
    return float(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue)


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """Exact McNemar test of models A and B on the same test images.

    Inputs are per-image booleans (True = correct), same length. Returns {"a_only" (images only A
    gets right), "b_only" (only B), "n" (images), "p_value"}. Raises ValueError on mismatched shapes.
    """
    a_only, b_only, n = _counts(correct_a, correct_b)
    return {"a_only": a_only, "b_only": b_only, "n": n, "p_value": _exact_p(a_only, b_only)}


def pooled_mcnemar(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Exact McNemar test on discordant counts summed over matched seed pairs (A seed s, B seed s).

    Pooling treats the images of different seeds as independent observations. They are not (every
    seed sees the same test images), so this is an approximation that can overstate significance.
    Returns {"a_only", "b_only", "n" (images summed over pairs), "pairs", "p_value"}.
    """
    if len(pairs) == 0:
        raise ValueError("pooled_mcnemar() needs at least one pair")
    a_only = b_only = n = 0
    for correct_a, correct_b in pairs:
        a, b, m = _counts(correct_a, correct_b)
        a_only, b_only, n = a_only + a, b_only + b, n + m
    return {
        "a_only": a_only,
        "b_only": b_only,
        "n": n,
        "pairs": len(pairs),
        "p_value": _exact_p(a_only, b_only),
    }


def verdict(welch: dict, mcnemar_result: dict, alpha: float = 0.05) -> tuple[str, str]:
    """(word, basis): is A "better", "worse" or "no significant difference" relative to B.

    With a Welch interval (>= 2 seeds per side) the interval decides: it excludes 0 or it does not, at
    the confidence it was built with (`alpha` is not used then). Otherwise the McNemar p value decides
    at level `alpha`, and the direction comes from which model alone gets more images right.
    """
    if welch["ci_low"] is not None:
        pct = 100 * welch.get("confidence", 0.95)
        if welch["ci_low"] > 0:
            word = "better"
        elif welch["ci_high"] < 0:
            word = "worse"
        else:
            word = "no significant difference"
        return word, WELCH_BASIS.format(pct=round(pct, 6))
    if mcnemar_result["p_value"] < alpha:
        word = "better" if mcnemar_result["a_only"] > mcnemar_result["b_only"] else "worse"
    else:
        word = "no significant difference"
    return word, MCNEMAR_BASIS
