"""Seed-comparison statistics checked against hand-computed values."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from cifar10_study.analysis.stats import mcnemar, pooled_mcnemar, summarize, verdict, welch_difference


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


def welch_ci(low, high, confidence=0.95):
    return {"ci_low": low, "ci_high": high, "confidence": confidence}


NO_CI = {"ci_low": None, "ci_high": None}
QUIET = {"a_only": 0, "b_only": 0, "p_value": 1.0}


@pytest.mark.parametrize("low, high, word", [(0.01, 0.03, "better"), (-0.03, -0.01, "worse"),
                                             (-0.01, 0.02, "no significant difference")])
def test_verdict_welch(low, high, word):
    # The McNemar result is ignored when a Welch interval exists, even if significant.
    assert verdict(welch_ci(low, high), {"a_only": 0, "b_only": 50, "p_value": 1e-9}) == (word, "Welch 95% CI")
    assert verdict(welch_ci(low, high, 0.9), QUIET)[1] == "Welch 90% CI"


@pytest.mark.parametrize("a_only, b_only, word", [(8, 0, "better"), (0, 8, "worse"),
                                                  (8, 2, "no significant difference")])
def test_verdict_mcnemar(a_only, b_only, word):
    # 8 vs 0: p = 2 / 2^8 = 0.0078 < 0.05; 8 vs 2: p = 0.109375 >= 0.05
    m = mcnemar(*pair(a_only, b_only))
    assert verdict(NO_CI, m) == (word, "McNemar (exact, pooled over matched seeds)")


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


@pytest.mark.parametrize("low, high", [(0.0, 0.02), (-0.02, 0.0)])
def test_an_interval_touching_zero_is_no_significant_difference(low, high):
    assert verdict(welch_ci(low, high), QUIET)[0] == "no significant difference"


def test_verdict_basis_names_the_confidence_used_and_defaults_to_95():
    assert verdict(welch_ci(0.01, 0.02, 0.975), QUIET)[1] == "Welch 97.5% CI"
    assert verdict({"ci_low": 0.01, "ci_high": 0.02}, QUIET) == ("better", "Welch 95% CI")


def test_mcnemar_at_exactly_alpha_is_not_significant():
    assert verdict(NO_CI, {"a_only": 9, "b_only": 1, "p_value": 0.05})[0] == "no significant difference"
    assert verdict(NO_CI, {"a_only": 9, "b_only": 1, "p_value": 0.049})[0] == "better"
    assert verdict(NO_CI, {"a_only": 9, "b_only": 1, "p_value": 0.02}, alpha=0.01)[0] == "no significant difference"
