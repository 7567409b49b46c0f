"""Seed-comparison statistics checked against hand-computed values."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from cifar10_study.analysis.stats import (
    MCNEMAR_BASIS,
    WELCH_BASIS,
    decisive_test,
    detectable_across_seeds,
    detectable_on_images,
    holm,
    mcnemar,
    pooled_mcnemar,
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
