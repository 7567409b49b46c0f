"""Small, pure statistics for comparing two training configurations A and B over seeds.

Welch's t test compares mean test accuracy across seeds; the exact McNemar test compares per-image
correctness on the shared test set, for when there are too few seeds to estimate a variance (it measures
how much the test images could move a comparison of two trained models, never how much retraining with
another seed would). `seed_noise_test` judges a difference against retraining alone: Welch's test with
seeds on both sides, or one run against the prediction interval of a reference's seeds. One
significance level `alpha` drives both the interval (confidence 1 - alpha) and the tests; a family of
comparisons is corrected with Holm's step-down adjustment; `detectable_difference` says how large a
difference the design could find, so that "no significant difference" reads as what it is.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from pydantic import Field
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ..core.schema import Section

WELCH_BASIS = "Welch t test across seeds"
MCNEMAR_BASIS = "McNemar (exact, pooled over matched seeds)"
PREDICTION_BASIS = "prediction interval of the reference's seeds"
NO_SEED_SPREAD = "seed spread not measured"


class StatisticsConfig(Section):
    """How the Stage 4/5 comparisons are tested (analysis and report only: no training stage reads it)."""

    alpha: float = Field(0.05, gt=0, lt=1)  # every test's significance level; intervals are at 1 - alpha
    power: float = Field(0.8, gt=0, lt=1)  # the power at which each comparison's detectable difference is given


def p_text(p: float) -> str:
    """What follows "p" in a sentence: "= 0.00045" (two significant digits), or, for a p that underflowed to 0
    (a difference of thousands of images), the bound it is below, never "= 0"."""
    return f"= {p:.2g}" if p > 0 else "< 1e-300"


def summarize(values: Sequence[float]) -> dict:
    """{"n", "mean", "std"} of `values` (in their own units, e.g. accuracy in [0, 1]).

    `std` is the sample standard deviation (ddof=1); None for a single value, which has no spread
    estimate. Raises ValueError on empty input.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("summarize() needs at least one value")
    # Equal values have no spread: exactly 0, not the rounding error of their float mean (three seeds at 0.1
    # would otherwise give ~1e-16 and a test that calls any other value beyond their noise).
    std = (0.0 if np.all(x == x[0]) else float(x.std(ddof=1))) if x.size >= 2 else None
    return {"n": int(x.size), "mean": float(x.mean()), "std": std}


def welch_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """mean(a) - mean(b) with a two-sided Welch t confidence interval and p value.

    Returns {"difference", "ci_low", "ci_high", "se", "df", "p_value", "n_a", "n_b", "confidence"}; the
    difference, interval and standard error are in the units of the inputs, df is the Welch–Satterthwaite
    degrees of freedom. With fewer than 2 values on a side, or zero variance on both, there is no variance
    estimate to build a t statistic from, so ci_low / ci_high / se / df / p_value are None.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    sa, sb = summarize(a), summarize(b)
    result = {
        "difference": sa["mean"] - sb["mean"],
        "ci_low": None,
        "ci_high": None,
        "se": None,
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
        se=se,
        df=float(df),
        # Two-sided: probability of a |t| at least this large under equal means.
        p_value=float(2 * stats.t.sf(abs(t_stat), df)),
    )
    return result


def prediction_interval(reference: Sequence[float], confidence: float = 0.95) -> dict | None:
    """Where one more seed of the reference would land with probability `confidence` (normal seed-to-seed
    spread, estimated from the reference's seeds): mean +- t[1 - (1 - confidence)/2, n - 1] * s * sqrt(1 + 1/n).
    Returns {"mean", "low", "high", "half_width", "scale" (s * sqrt(1 + 1/n), the spread of a new seed's
    distance from the mean), "n"}; None with fewer than 2 values or no spread."""
    r = summarize(reference)
    if r["std"] is None or r["std"] == 0.0:
        return None
    scale = r["std"] * math.sqrt(1 + 1 / r["n"])
    half = float(stats.t.ppf(0.5 + confidence / 2, r["n"] - 1)) * scale
    return {"mean": r["mean"], "low": r["mean"] - half, "high": r["mean"] + half, "half_width": half,
            "scale": scale, "n": r["n"]}


def seed_noise_test(a: Sequence[float], reference: Sequence[float], alpha: float = 0.05) -> dict:
    """Is mean(a) - mean(reference) beyond what retraining with other seeds gives? Returns {"difference",
    "floor", "p_value", "basis", "n_a", "n_reference"}: `floor` is the largest difference seed noise alone
    reaches with probability 1 - alpha (the difference is beyond it exactly when p_value < alpha).

    - seeds on both sides (>= 2, some spread): Welch's t test; the floor is its interval's half-width;
    - one run against a reference of >= 2 seeds: the run against the reference's (1 - alpha) prediction
      interval (the t statistic (a - mean) / (s * sqrt(1 + 1/n)), n - 1 degrees of freedom), which assumes the
      run's configuration spreads over seeds as the reference does; the floor is the interval's half-width;
      several seeds against a one-seed reference: the same with the roles swapped;
    - one seed a side (or no spread): no floor, p_value None (NO_SEED_SPREAD): nothing is beyond seed noise.
    """
    _check_level("alpha", alpha)
    sa, sr = summarize(a), summarize(reference)
    out = {"difference": sa["mean"] - sr["mean"], "floor": None, "p_value": None, "basis": NO_SEED_SPREAD,
           "n_a": sa["n"], "n_reference": sr["n"]}
    if sa["n"] >= 2 and sr["n"] >= 2:
        welch = welch_difference(a, reference, confidence=1 - alpha)
        if welch["p_value"] is not None:
            out.update(floor=welch["ci_high"] - welch["difference"], p_value=welch["p_value"], basis=WELCH_BASIS)
        return out
    single, several = (sa, reference) if sa["n"] == 1 else (sr, a)
    interval = prediction_interval(several, confidence=1 - alpha)
    if interval is None:
        return out
    t_stat = (single["mean"] - interval["mean"]) / interval["scale"]
    out.update(floor=interval["half_width"], p_value=float(2 * stats.t.sf(abs(t_stat), interval["n"] - 1)),
               basis=PREDICTION_BASIS)
    return out


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


def decisive_test(welch: dict, mcnemar_result: dict) -> tuple[str, float, bool]:
    """(basis, p value, A ahead) of the test a verdict rests on: Welch's t test across seeds when it has a
    variance estimate (>= 2 seeds a side with some spread), else exact McNemar on the pooled test images.
    "A ahead": the mean difference is positive (Welch), or A alone gets more images right (McNemar)."""
    if welch["p_value"] is not None:
        return WELCH_BASIS, welch["p_value"], welch["difference"] > 0
    return MCNEMAR_BASIS, mcnemar_result["p_value"], mcnemar_result["a_only"] > mcnemar_result["b_only"]


def verdict(p_value: float, a_ahead: bool, alpha: float) -> str:
    """Is A "better", "worse" or of "no significant difference" relative to B, at level `alpha`.

    `p_value` is the decisive test's (Holm-adjusted within a family of comparisons). For Welch's test
    p < alpha exactly when its (1 - alpha) interval excludes 0, so the verdict and the interval agree."""
    _check_level("alpha", alpha)
    if p_value >= alpha:
        return "no significant difference"
    return "better" if a_ahead else "worse"


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p values (family-wise error control), in the order given: the k-th
    smallest of m is multiplied by m - k + 1, made non-decreasing in that order and capped at 1."""
    if len(p_values) == 0:
        return []
    return [float(p) for p in multipletests(list(p_values), method="holm")[1]]


def detectable_across_seeds(welch: dict, alpha: float, power: float) -> float | None:
    """The smallest true difference of means that Welch's two-sided test at `alpha` would find with
    probability `power`, from the observed seed spread and number of seeds: (t[1 - alpha/2, df] +
    t[power, df]) * SE, in the units of the inputs. None without a variance estimate (one seed a side)."""
    _check_level("power", power)
    if welch["se"] is None:
        return None
    return float((stats.t.ppf(1 - alpha / 2, welch["df"]) + stats.t.ppf(power, welch["df"])) * welch["se"])


def detectable_on_images(mcnemar_result: dict, alpha: float, power: float) -> float | None:
    """The smallest accuracy difference between two trained models that McNemar's two-sided test at
    `alpha` would find with probability `power` on these test images (normal approximation): (z[1 -
    alpha/2] + z[power]) * sqrt(discordant) / n. A statement about the models, not about their recipes.
    None when the models agree on every image (no discordant pair to scale by)."""
    _check_level("power", power)
    discordant = mcnemar_result["a_only"] + mcnemar_result["b_only"]
    if discordant == 0:
        return None
    return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * math.sqrt(discordant) / mcnemar_result["n"])


def _check_level(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
