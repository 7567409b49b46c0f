"""Seed-comparison statistics checked against hand-computed values."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from cifar10_study.analysis.stats import (
    MCNEMAR_BASIS,
    NO_SEED_SPREAD,
    PREDICTION_BASIS,
    WELCH_BASIS,
    decisive_test,
    detectable_across_seeds,
    detectable_on_images,
    holm,
    mcnemar,
    p_text,
    pooled_mcnemar,
    prediction_interval,
    seed_noise_test,
    summarize,
    verdict,
    welch_difference,
)


def pair(a_only: int, b_only: int, both: int = 5, neither: int = 3):
    """Per-image correctness arrays with the given discordant counts plus some concordant images."""
    a = [True] * a_only + [False] * b_only + [True] * both + [False] * neither
    b = [False] * a_only + [True] * b_only + [True] * both + [False] * neither
    return np.array(a), np.array(b)


def test_summarize():
    s = summarize([1, 2, 3, 4])
    # mean 10/4 = 2.5; squared deviations 2.25+0.25+0.25+2.25 = 5, over n-1 = 3 -> var 5/3
    assert s == {"n": 4, "mean": 2.5, "std": pytest.approx(math.sqrt(5 / 3))}
    assert summarize([0.5]) == {"n": 1, "mean": 0.5, "std": None}
    with pytest.raises(ValueError):
        summarize([])


def test_welch_difference_by_hand():
    a, b = [1, 2, 3], [2, 4, 6, 8]
    w = welch_difference(a, b)
    # mean a 2, var a 1 -> se_a^2 = 1/3; mean b 5, var b (9+1+1+9)/3 = 20/3 -> se_b^2 = 20/3/4 = 5/3
    # se^2 = 1/3 + 5/3 = 2; df = 2^2 / ((1/3)^2/2 + (5/3)^2/3) = 4 / (1/18 + 25/27) = 4 / (53/54) = 216/53
    df = 216 / 53
    half = sps.t.ppf(0.975, df) * math.sqrt(2)
    assert w["difference"] == pytest.approx(-3.0)
    assert w["df"] == pytest.approx(df)
    assert w["ci_low"] == pytest.approx(-3.0 - half)
    assert w["ci_high"] == pytest.approx(-3.0 + half)
    assert w["p_value"] == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert (w["n_a"], w["n_b"], w["confidence"]) == (3, 4, 0.95)
    # Swapping the sides flips the sign and the interval, keeps p.
    r = welch_difference(b, a)
    assert r["difference"] == pytest.approx(3.0)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((3.0 - half, 3.0 + half))
    assert r["p_value"] == pytest.approx(w["p_value"])
    # A wider confidence gives a wider interval.
    assert welch_difference(a, b, 0.99)["ci_low"] < w["ci_low"]


@pytest.mark.parametrize("a, b", [([0.9], [0.8, 0.82]), ([0.9, 0.91], [0.8]), ([0.9, 0.9], [0.8, 0.8])])
def test_welch_without_variance_estimate(a, b):
    w = welch_difference(a, b)
    assert w["difference"] == pytest.approx(np.mean(a) - np.mean(b))
    assert [w[k] for k in ("ci_low", "ci_high", "df", "p_value")] == [None] * 4


def test_mcnemar_exact():
    r = mcnemar(*pair(8, 2))
    # b=8, c=2: p = 2 * sum_{k<=2} C(10,k) / 2^10 = 2 * (1+10+45) / 1024 = 0.109375
    assert r == {"a_only": 8, "b_only": 2, "n": 18, "p_value": pytest.approx(0.109375)}
    assert mcnemar(*pair(2, 8))["p_value"] == pytest.approx(0.109375)  # symmetric
    assert mcnemar(*pair(0, 0))["p_value"] == 1.0
    with pytest.raises(ValueError):
        mcnemar(np.ones(3, bool), np.ones(4, bool))


def test_pooled_mcnemar_sums_counts():
    r = pooled_mcnemar([pair(5, 1), pair(3, 1)])
    # a_only 5+3 = 8, b_only 1+1 = 2 -> same counts and p as the single b=8, c=2 case
    assert r == {"a_only": 8, "b_only": 2, "n": 14 + 12, "pairs": 2, "p_value": pytest.approx(0.109375)}


def test_summarize_two_values_has_a_spread_and_empty_input_says_why():
    assert summarize([1.0, 3.0]) == {"n": 2, "mean": 2.0, "std": pytest.approx(math.sqrt(2))}
    with pytest.raises(ValueError, match=r"^summarize\(\) needs at least one value$"):
        summarize([])


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_welch_refuses_a_confidence_outside_0_1(confidence):
    with pytest.raises(ValueError, match=rf"confidence must be in \(0, 1\), got {confidence}"):
        welch_difference([1, 2, 3], [2, 4, 6], confidence)
    assert welch_difference([1, 2, 3], [2, 4, 6], 0.999)["ci_low"] < welch_difference([1, 2, 3], [2, 4, 6])["ci_low"]


def test_mcnemar_takes_any_0_1_correctness_and_refuses_other_shapes():
    a, b = pair(4, 1)
    expected = mcnemar(a, b)
    assert mcnemar(a.astype(int).tolist(), b.astype(int).tolist()) == expected
    assert mcnemar(a.astype(float), b.astype(float)) == expected  # e.g. a correctness column read from CSV
    with pytest.raises(ValueError, match=r"need two 1-D arrays of equal length, got shapes \(3,\) and \(4,\)"):
        mcnemar(np.ones(3, bool), np.ones(4, bool))
    with pytest.raises(ValueError, match=r"need two 1-D arrays of equal length, got shapes \(2, 2\) and \(2, 2\)"):
        mcnemar(np.ones((2, 2), bool), np.ones((2, 2), bool))


def test_pooled_mcnemar_of_one_pair_is_mcnemar_and_of_none_an_error():
    a, b = pair(8, 2)
    assert pooled_mcnemar([(a, b)]) == {**mcnemar(a, b), "pairs": 1}
    with pytest.raises(ValueError, match=r"^pooled_mcnemar\(\) needs at least one pair$"):
        pooled_mcnemar([])


@pytest.mark.parametrize("p, a_ahead, word", [(0.01, True, "better"), (0.01, False, "worse"),
                                              (0.05, True, "no significant difference"),
                                              (0.2, False, "no significant difference")])
def test_verdict_at_alpha(p, a_ahead, word):
    assert verdict(p, a_ahead, alpha=0.05) == word


def test_verdict_takes_its_level_from_alpha_and_refuses_a_level_outside_0_1():
    assert verdict(0.02, True, alpha=0.05) == "better"
    assert verdict(0.02, True, alpha=0.01) == "no significant difference"
    assert verdict(0.049, False, alpha=0.05) == "worse"
    for alpha in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=rf"^alpha must be in \(0, 1\), got {alpha}$"):
            verdict(0.01, True, alpha)


def test_the_decisive_test_is_welch_when_it_has_a_variance_else_mcnemar():
    significant_mcnemar = {"a_only": 0, "b_only": 50, "p_value": 1e-9}
    welch = welch_difference([0.90, 0.91, 0.92], [0.89, 0.90, 0.91])
    assert decisive_test(welch, significant_mcnemar) == (WELCH_BASIS, welch["p_value"], True)
    assert decisive_test(welch_difference([0.89, 0.90, 0.91], [0.90, 0.91, 0.92]), significant_mcnemar)[2] is False
    one_seed = welch_difference([0.9], [0.8])
    assert decisive_test(one_seed, significant_mcnemar) == (MCNEMAR_BASIS, 1e-9, False)
    assert decisive_test(one_seed, {"a_only": 7, "b_only": 3, "p_value": 0.3}) == (MCNEMAR_BASIS, 0.3, True)
    assert decisive_test(one_seed, {"a_only": 5, "b_only": 5, "p_value": 1.0})[2] is False  # a tie: A not ahead


@pytest.mark.parametrize("a, b", [([0.90, 0.91, 0.92], [0.85, 0.86, 0.88]), ([0.90, 0.91, 0.92], [0.89, 0.90, 0.92]),
                                  ([0.5, 0.7, 0.6, 0.65], [0.55, 0.58, 0.61])])
@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.2])
def test_welch_p_below_alpha_exactly_when_its_interval_at_1_minus_alpha_excludes_zero(a, b, alpha):
    w = welch_difference(a, b, confidence=1 - alpha)
    assert (w["p_value"] < alpha) == (w["ci_low"] > 0 or w["ci_high"] < 0)
    assert w["se"] == pytest.approx(math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b)))


def test_holm_by_hand():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> raised to 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # 0.5 x 2 = 1.0; 0.6 x 1 = 0.6 -> 1.0; capped at 1
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([0.01]) == pytest.approx([0.01])  # a family of one is not adjusted
    assert holm([]) == []


def test_detectable_difference_across_seeds_by_hand():
    w = welch_difference([0.90, 0.91, 0.92], [0.89, 0.90, 0.91])
    # each side: std 0.01 over 3 seeds -> SE^2 = 2 * 0.0001 / 3; Welch df = 4
    # (t[0.975, 4] + t[0.80, 4]) * SE = (2.776445 + 0.940965) * 0.00816497 = 0.030353
    assert w["df"] == pytest.approx(4.0)
    assert detectable_across_seeds(w, alpha=0.05, power=0.8) == pytest.approx(3.717410 * math.sqrt(2e-4 / 3), rel=1e-5)
    assert detectable_across_seeds(w, alpha=0.05, power=0.8) == pytest.approx(0.030353, abs=1e-6)
    # More seeds with the same spread, or a looser level, detect less.
    assert detectable_across_seeds(w, alpha=0.2, power=0.8) < detectable_across_seeds(w, alpha=0.05, power=0.8)
    assert detectable_across_seeds(welch_difference([0.9], [0.8]), 0.05, 0.8) is None
    with pytest.raises(ValueError, match=r"^power must be in \(0, 1\), got 1.0$"):
        detectable_across_seeds(w, 0.05, 1.0)
    with pytest.raises(ValueError, match=r"^power must be in \(0, 1\), got 0$"):
        detectable_on_images({"a_only": 1, "b_only": 0, "n": 10}, 0.05, 0)


def test_detectable_difference_on_images_by_hand():
    m = {"a_only": 30, "b_only": 10, "n": 1000, "p_value": 0.002}
    # (z[0.975] + z[0.80]) * sqrt(40) / 1000 = (1.959964 + 0.841621) * 0.00632456 = 0.017719
    assert detectable_on_images(m, alpha=0.05, power=0.8) == pytest.approx(0.017719, abs=1e-6)
    assert detectable_on_images({**m, "n": 4000}, 0.05, 0.8) == pytest.approx(0.017719 / 4, abs=1e-6)
    assert detectable_on_images({"a_only": 0, "b_only": 0, "n": 1000, "p_value": 1.0}, 0.05, 0.8) is None


# --- the seed-noise floor: what retraining with other seeds alone gives -----------------------------------------

def t_quantile_df2(q: float) -> float:
    """Student's t quantile at 2 degrees of freedom in closed form: (2q - 1) / sqrt(2 q (1 - q))."""
    return (2 * q - 1) / math.sqrt(2 * q * (1 - q))


REFERENCE = [0.70, 0.72, 0.74]  # mean 0.72, sample std 0.02, n 3: t at 2 degrees of freedom


def test_prediction_interval_by_hand():
    # scale = s * sqrt(1 + 1/n) = 0.02 * sqrt(4/3) = 0.0230940; t[0.975, 2] = 0.95 / sqrt(2 * 0.975 * 0.025) = 4.3026527
    scale = 0.02 * math.sqrt(4 / 3)
    half = t_quantile_df2(0.975) * scale
    assert t_quantile_df2(0.975) == pytest.approx(4.3026527, abs=1e-7) and half == pytest.approx(0.0993655, abs=1e-7)
    interval = prediction_interval(REFERENCE, confidence=0.95)
    assert interval == {"mean": pytest.approx(0.72), "low": pytest.approx(0.72 - half),
                        "high": pytest.approx(0.72 + half), "half_width": pytest.approx(half),
                        "scale": pytest.approx(scale), "n": 3}
    # At 90%: t[0.95, 2] = 0.9 / sqrt(2 * 0.95 * 0.05) = 2.9199856, a narrower interval.
    assert t_quantile_df2(0.95) == pytest.approx(2.9199856, abs=1e-7)
    assert prediction_interval(REFERENCE, confidence=0.90)["half_width"] == pytest.approx(t_quantile_df2(0.95) * scale)
    # Wider than the confidence interval of the mean (s / sqrt(n)): one more seed, not the mean of many.
    assert half > t_quantile_df2(0.975) * 0.02 / math.sqrt(3)
    # The default level is 95%, and the order of the seeds does not matter.
    assert prediction_interval(REFERENCE[::-1]) == interval


# Seeds that agree exactly, at accuracies whose mean over the seeds is exact in floating point.
@pytest.mark.parametrize("reference", [[0.72], [0.72, 0.72], [0.75, 0.75, 0.75], [0.7474, 0.7474, 0.7474]])
def test_no_prediction_interval_without_a_seed_spread(reference):
    assert prediction_interval(reference) is None


# Three seeds that agree exactly at 0.1 or 0.7 have a float mean one rounding away from the value: their spread
# must still be 0 (no floor, "seed spread not measured"), not ~1e-16 (which would call anything beyond seed noise).
@pytest.mark.parametrize("accuracy", [0.1, 0.7])
def test_seeds_that_agree_exactly_have_no_spread_whatever_their_accuracy(accuracy):
    assert prediction_interval([accuracy] * 3) is None
    assert seed_noise_test([accuracy + 0.01], [accuracy] * 3)["basis"] == NO_SEED_SPREAD


def test_the_seed_noise_test_is_welch_with_two_seeds_or_more_a_side():
    a = [0.75, 0.76, 0.77]
    test = seed_noise_test(a, REFERENCE, alpha=0.05)
    welch = welch_difference(a, REFERENCE, confidence=0.95)
    # se^2 = 0.0001/3 + 0.0004/3; df = (5e-4/3)^2 / ((1e-4/3)^2/2 + (4e-4/3)^2/2) = 25 / 8.5
    se, df = math.sqrt(5e-4 / 3), 25 / 8.5
    assert welch["df"] == pytest.approx(df)
    assert test == {"difference": pytest.approx(0.04), "floor": pytest.approx(sps.t.ppf(0.975, df) * se),
                    "p_value": pytest.approx(sps.ttest_ind(a, REFERENCE, equal_var=False).pvalue),
                    "basis": WELCH_BASIS, "n_a": 3, "n_reference": 3}
    assert test["floor"] == pytest.approx(welch["ci_high"] - welch["difference"])  # the interval's half-width
    # Two seeds a side are enough; no spread on one side still leaves the other's.
    assert seed_noise_test([0.75, 0.77], [0.70, 0.74])["basis"] == WELCH_BASIS
    assert seed_noise_test([0.75, 0.75], REFERENCE)["basis"] == WELCH_BASIS


def test_one_run_is_judged_by_the_prediction_interval_of_the_references_seeds_by_hand():
    # t = (0.80 - 0.72) / (0.02 * sqrt(4/3)) = sqrt(12); at 2 df the two-sided p is 1 - t / sqrt(t^2 + 2)
    # = 1 - sqrt(6/7) = 0.0741799.
    test = seed_noise_test([0.80], REFERENCE, alpha=0.05)
    floor = prediction_interval(REFERENCE)["half_width"]
    assert test == {"difference": pytest.approx(0.08), "floor": pytest.approx(floor),
                    "p_value": pytest.approx(1 - math.sqrt(6 / 7)), "basis": PREDICTION_BASIS, "n_a": 1,
                    "n_reference": 3}
    assert test["p_value"] == pytest.approx(0.0741799, abs=1e-7) and test["p_value"] > 0.05  # inside the interval
    # Several seeds against a one-seed reference: the same, roles swapped (the several seeds' interval).
    swapped = seed_noise_test(REFERENCE, [0.80], alpha=0.05)
    assert swapped["difference"] == pytest.approx(-0.08) and swapped["basis"] == PREDICTION_BASIS
    assert (swapped["floor"], swapped["p_value"]) == pytest.approx((test["floor"], test["p_value"]))
    assert (swapped["n_a"], swapped["n_reference"]) == (3, 1)
    # Below the interval is as far out as above it.
    assert seed_noise_test([0.64], REFERENCE)["p_value"] == pytest.approx(test["p_value"])
    # At a looser level the floor is the 80% interval's half-width.
    assert seed_noise_test([0.80], REFERENCE, alpha=0.2)["floor"] == pytest.approx(
        prediction_interval(REFERENCE, confidence=0.8)["half_width"])


@pytest.mark.parametrize("a, reference", [([0.80], [0.70]), ([0.80], [0.75, 0.75, 0.75]), ([0.8, 0.8], [0.7, 0.7]),
                                          ([0.25, 0.25, 0.25], [0.7])])
def test_without_a_seed_spread_there_is_no_floor_and_nothing_beyond_it(a, reference):
    """One seed a side, or seeds that agree exactly: McNemar may still see the test images differ, but seed noise is
    not measured, so no p value says the difference is beyond it."""
    test = seed_noise_test(a, reference)
    assert test == {"difference": pytest.approx(np.mean(a) - np.mean(reference)), "floor": None, "p_value": None,
                    "basis": NO_SEED_SPREAD, "n_a": len(a), "n_reference": len(reference)}


@pytest.mark.parametrize("a, reference", [
    *[([x], REFERENCE) for x in (0.60, 0.62, 0.65, 0.70, 0.72, 0.75, 0.80, 0.81, 0.82, 0.85)],
    *[([x - 0.01, x, x + 0.02], REFERENCE) for x in (0.60, 0.67, 0.68, 0.70, 0.72, 0.75, 0.76, 0.78, 0.85)],
    ([0.9, 0.5, 0.88], [0.72, 0.73, 0.74]),  # a side whose seeds disagree
])
@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.2])
def test_the_difference_is_beyond_seed_noise_exactly_when_it_exceeds_the_floor(a, reference, alpha):
    test = seed_noise_test(a, reference, alpha)
    assert test["basis"] in (WELCH_BASIS, PREDICTION_BASIS)
    assert (test["p_value"] < alpha) == (abs(test["difference"]) > test["floor"])


@pytest.mark.parametrize("basis_of, a", [("prediction", [0.72]), ("welch", [0.71, 0.72, 0.74])])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_at_the_floor_p_is_alpha(basis_of, a, alpha):
    """A difference just beyond the floor has p just below alpha, and just inside it p just above: the floor is
    where the test turns."""
    floor = seed_noise_test(a, REFERENCE, alpha)["floor"]
    centre = np.mean(a) - np.mean(REFERENCE)
    for side in (1, -1):
        beyond = seed_noise_test([x + side * (floor * 1.0001) - centre for x in a], REFERENCE, alpha)
        inside = seed_noise_test([x + side * (floor * 0.9999) - centre for x in a], REFERENCE, alpha)
        assert beyond["p_value"] < alpha < inside["p_value"]
        assert beyond["p_value"] == pytest.approx(alpha, rel=1e-2)
        assert inside["p_value"] == pytest.approx(alpha, rel=1e-2)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5])
def test_the_seed_noise_test_refuses_a_level_outside_0_1(alpha):
    with pytest.raises(ValueError, match=rf"^alpha must be in \(0, 1\), got {alpha}$"):
        seed_noise_test([0.8], REFERENCE, alpha)


def test_a_p_value_that_underflows_reads_as_a_bound_not_as_zero():
    """Thousands of images flipped one way: the exact binomial p underflows to 0; the text says what it is
    below, never "0"."""
    a = np.ones(5000, dtype=bool)
    b = np.zeros(5000, dtype=bool)
    assert mcnemar(a, b)["p_value"] == 0.0
    assert p_text(0.0) == "< 1e-300"
    assert (p_text(4.5e-4), p_text(0.2), p_text(1.0)) == ("= 0.00045", "= 0.2", "= 1")
