"""The Stage 1-3 findings: each rule says shown exactly when its numbers meet it, and its evidence carries the
numbers; McNemar differences are called within noise at or above alpha."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cifar10_study.analysis import findings
from cifar10_study.analysis.findings import Difference
from cifar10_study.reporting import findings_report


def correctness(n: int, right: int, seed: int = 0) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[np.random.default_rng(seed).permutation(n)[:right]] = True
    return out


def test_a_difference_is_the_accuracy_gap_with_mcnemars_p_and_within_noise_at_or_above_alpha():
    a = np.array([True] * 60 + [False] * 40)
    b = np.array([True] * 50 + [False] * 50)
    d = Difference.of(a, b, alpha=0.05)
    assert d.difference == pytest.approx(0.10) and d.p_value < 0.05 and d.significant
    assert str(d).startswith("+10.00 points (McNemar p = ") and "noise" not in str(d)
    close = Difference.of(a, np.array([True] * 59 + [False] * 41), alpha=0.05)
    assert close.difference == pytest.approx(0.01) and not close.significant and "within noise" in str(close)
    assert not Difference(0.02, 0.05, 0.05).significant  # p equal to alpha is not below it


@pytest.mark.parametrize("accuracy,shown", [(0.70, True), (0.6999, False), (0.74, True)])
def test_the_baseline_finding_needs_seventy_percent(accuracy, shown):
    finding = findings.baseline_accuracy(accuracy)
    assert finding.shown is shown and f"{100 * accuracy:.2f}%" in finding.evidence


@pytest.mark.parametrize("affine,softmax,baseline,shown", [
    (0.39, 0.35, 0.74, True),
    (0.41, 0.35, 0.74, False),  # more than 5 points above the softmax classifier
    (0.39, 0.35, 0.63, False),  # less than 25 points below the baseline
    (0.31, 0.35, 0.74, True),   # within 5 points below the softmax classifier
])
def test_linear_collapse_needs_the_affine_network_near_softmax_and_far_below_the_baseline(affine, softmax, baseline,
                                                                                          shown):
    finding = findings.linear_collapse(baseline, affine, softmax, maxpool=0.70, maxpool_affine=False)
    assert finding.shown is shown
    assert "70.00%" in finding.evidence and "max-pooling alone keeps it non-linear" in finding.evidence


def test_the_bottleneck_finding_needs_rising_accuracy_and_a_narrowest_well_below_the_baseline():
    assert findings.bottleneck({1: 0.40, 4: 0.60, 16: 0.70, 64: 0.73}, baseline=0.73).shown
    assert not findings.bottleneck({1: 0.40, 4: 0.65, 16: 0.60, 64: 0.73}, baseline=0.73).shown  # not rising
    assert not findings.bottleneck({1: 0.68, 4: 0.70, 16: 0.72}, baseline=0.73).shown  # narrowest too close
    assert "width 4: 60.00%" in findings.bottleneck({4: 0.60, 1: 0.40}, baseline=0.73).evidence


def test_scaling_findings_compare_each_variant_with_the_baseline():
    better, worse, noise = Difference(0.01, 0.01, 0.05), Difference(-0.05, 1e-9, 0.05), Difference(-0.01, 0.3, 0.05)
    assert findings.width_scaling(better, "width x2").shown
    assert not findings.width_scaling(worse, "width x2").shown
    assert findings.depth_scaling({"depth x2": worse, "depth x3": worse}).shown
    assert not findings.depth_scaling({"depth x2": worse, "depth x3": noise}).shown  # within noise is not worse
    assert not findings.depth_scaling({}).shown


def test_vanishing_needs_shrinking_gradients_and_a_shallow_depth_that_learns_beside_deeper_ones_that_do_not():
    def depths(ratios, vals):
        return {d: {"input_over_output": r, "final_val_accuracy": v} for d, r, v in zip((4, 10, 20), ratios, vals)}
    assert findings.vanishing_gradients(depths((0.1, 1e-3, 1e-8), (0.49, 0.10, 0.10)), 0.2).shown
    assert not findings.vanishing_gradients(depths((0.1, 1e-3, 1e-8), (0.10, 0.10, 0.10)), 0.2).shown  # none learns
    assert not findings.vanishing_gradients(depths((0.1, 1e-3, 1e-8), (0.49, 0.45, 0.30)), 0.2).shown  # all learn
    assert not findings.vanishing_gradients(depths((0.1, 0.2, 1e-8), (0.49, 0.10, 0.10)), 0.2).shown  # not shrinking
    diverged = findings.vanishing_gradients(depths((0.1, 1e-3, 1e-8), (0.49, 0.10, None)), 0.2)
    assert diverged.shown and "did not: 10, 20" in diverged.evidence


def test_stage3_findings_need_significant_gains_and_costly_essential_components():
    beyond, noise = Difference(0.03, 1e-6, 0.05), Difference(0.003, 0.4, 0.05)
    assert findings.residual_cnn_beats_baseline(beyond).shown
    assert not findings.residual_cnn_beats_baseline(noise).shown
    costly = Difference(-0.08, 1e-20, 0.05)
    ablations = {"no_residual": costly, "no_batchnorm": costly, "no_dropout": noise}
    finding = findings.components_matter(ablations, essential=("no_residual", "no_batchnorm"))
    assert finding.shown and "no_dropout: +0.30 points" in finding.evidence and "within noise" in finding.evidence
    assert not findings.components_matter({**ablations, "no_batchnorm": noise}, ("no_residual", "no_batchnorm")).shown
    assert not findings.components_matter({"no_residual": costly}, ("no_residual", "no_batchnorm")).shown


# --- the report's findings section, from a study's runs -------------------------------------------------------

def study(stage3: bool = True, alpha: float = 0.05):
    """A Study-shaped namespace: the attributes the findings section reads, with runs that show every finding."""
    n = 2000
    correct = {"stage1": correctness(n, 1470), "stage2/width_x2": correctness(n, 1500, 1),
               "stage2/depth_x2": correctness(n, 1300, 2)}
    if stage3:
        correct |= {"stage3": correctness(n, 1560, 3), "stage3_ablations/no_residual": correctness(n, 1380, 4),
                    "stage3_ablations/no_batchnorm": correctness(n, 1290, 5),
                    **{f"stage3_ablations/{a}": correctness(n, 1555, 6)
                       for a in ("no_dropout", "no_label_smoothing", "no_weight_decay")}}
    runs = {"linear_avgpool": 0.39, "linear_maxpool": 0.70, "softmax": 0.36,
            **{f"bottleneck_{w}": a for w, a in ((1, 0.40), (4, 0.62), (16, 0.71))}}
    variants = {"width_x2": SimpleNamespace(width=2), "depth_x2": SimpleNamespace(convs_per_stage=2)}
    table = pd.DataFrame({"variant": ["baseline", *variants], "width": [1, 2, 1], "convs_per_stage": [1, 1, 2]})
    vanishing = {"learned_accuracy": 0.2, "runs": {
        f"depth_{d}": {"depth": d, "grad_norms": {"0": {"first_over_last": r}}, "final_val_accuracy": v}
        for d, r, v in ((4, 0.1, 0.49), (10, 1e-3, 0.1), (20, 1e-8, 0.1))}}
    return SimpleNamespace(
        baseline={"test_accuracy": 0.735}, profile="quick", correct=correct,
        experiments={"runs": {k: {"test_accuracy": v} for k, v in runs.items()}, "bottleneck_widths": [1, 4, 16],
                     "baseline_channels": [32, 64, 128], "bottleneck_stage": 1,
                     "collapse": {"linear_maxpool": {"is_affine": False}, "linear_avgpool": {"is_affine": True}}},
        variants=table, stress=SimpleNamespace(vanishing=vanishing),
        params=SimpleNamespace(stage2=SimpleNamespace(variants=variants), statistics=SimpleNamespace(alpha=alpha)),
        done={"stage1", "stage2", "stage3"} if stage3 else {"stage1", "stage2"})


def test_the_findings_section_judges_every_finding_on_the_studys_runs():
    judged = [*findings_report.stage1_findings(study()), *findings_report.stage2_findings(study()),
              *findings_report.stage3_findings(study())]
    assert [f.stage for f in judged] == ["Stage 1"] * 3 + ["Stage 2"] * 3 + ["Stage 3"] * 2
    assert all(f.shown for f in judged), [f.claim for f in judged if not f.shown]
    text = "\n".join(findings_report.findings_section(study()))
    assert "8 of 8 shown" in text and "not shown at this budget" not in text
    assert "no_dropout: -0.25 points (McNemar p = " in text  # each ablation's effect, with its test
    assert "width 16: 71.00%, width 64: 73.50%; baseline 73.50%" in text  # the baseline is the widest point


def test_a_finding_the_runs_do_not_show_says_so_and_missing_stages_are_left_out():
    weak = study(stage3=False)
    weak.baseline = {"test_accuracy": 0.60}
    text = "\n".join(findings_report.findings_section(weak))
    assert "Stage 3" not in text and "**not shown at this budget**" in text and "test accuracy 60.00%" in text


# --- what each finding says: the report prints these words (numbers from the committed quick run) -------------

NOISE, STRONG = 0.05, 1e-40
WORDED = [
    (lambda: findings.baseline_accuracy(0.7474), "the baseline CNN reaches at least 70.00%", "test accuracy 74.74%",
     "baseline"),
    (lambda: findings.linear_collapse(0.7474, 0.3897, 0.3519, 0.7047, maxpool_affine=False),
     "without non-linearities the CNN collapses to a linear classifier: within 5 points of softmax regression on "
     "the pixels and at least 25 points below the ReLU baseline",
     "affine network (identity + average pooling) 38.97%, softmax on pixels 35.19%, ReLU baseline 74.74%; identity "
     "+ max-pooling 70.47% (max-pooling alone keeps it non-linear, so it is no affine map)", "collapse"),
    (lambda: findings.linear_collapse(0.7474, 0.3897, 0.3519, 0.7047, maxpool_affine=True),
     "without non-linearities the CNN collapses to a linear classifier: within 5 points of softmax regression on "
     "the pixels and at least 25 points below the ReLU baseline",
     "affine network (identity + average pooling) 38.97%, softmax on pixels 35.19%, ReLU baseline 74.74%; identity "
     "+ max-pooling 70.47% (it fitted an affine map, which max-pooling does not guarantee)", "collapse"),
    (lambda: findings.bottleneck({16: 0.7255, 1: 0.5161, 4: 0.621}, 0.7474),
     "accuracy rises with the bottleneck's width, the narrowest at least 10 points below the baseline",
     "width 1: 51.61%, width 4: 62.10%, width 16: 72.55%; baseline 74.74%", "bottleneck"),
    (lambda: findings.width_scaling(Difference(0.0175, 3.1e-5, NOISE), "width_x2"),
     "width_x2 does at least as well as the baseline",
     "width_x2 against the baseline: +1.75 points (McNemar p = 3.1e-05)", "scaling"),
    (lambda: findings.depth_scaling({"depth_x2": Difference(-0.0866, STRONG, NOISE),
                             "depth_x3": Difference(-0.1, STRONG, NOISE)}),
     "deeper plain stacks train worse at the same budget",
     "depth_x2 against the baseline: -8.66 points (McNemar p = 1e-40); depth_x3 against the baseline: -10.00 points "
     "(McNemar p = 1e-40)", "scaling"),
    (lambda: findings.vanishing_gradients({4: {"input_over_output": 0.093, "final_val_accuracy": 0.3792},
                                   10: {"input_over_output": 8.6e-4, "final_val_accuracy": 0.1}}, 0.2),
     "in plain networks the gradient shrinks toward the input as depth grows, and a shallow one learns where "
     "deeper ones do not",
     "first-over-last layer gradient norm at initialisation: depth 4: 0.093, depth 10: 0.00086; learned "
     "(validation accuracy at least 20.00%): 4; did not: 10", "vanishing"),
    (lambda: findings.vanishing_gradients({4: {"input_over_output": 0.1, "final_val_accuracy": 0.1},
                                   10: {"input_over_output": 0.01, "final_val_accuracy": 0.1}}, 0.2),
     "in plain networks the gradient shrinks toward the input as depth grows, and a shallow one learns where "
     "deeper ones do not",
     "first-over-last layer gradient norm at initialisation: depth 4: 0.1, depth 10: 0.01; learned "
     "(validation accuracy at least 20.00%): none; did not: 4, 10", "vanishing"),
    (lambda: findings.residual_cnn_beats_baseline(Difference(0.0268, 4.7e-11, NOISE)),
     "the residual CNN beats the Stage 1 baseline at the same budget, beyond noise",
     "Stage 3 against Stage 1: +2.68 points (McNemar p = 4.7e-11)", "stage3"),
    (lambda: findings.components_matter({"no_residual": Difference(-0.0595, 1e-20, NOISE),
                                 "no_dropout": Difference(0.0035, 0.4, NOISE)}, ("no_residual",)),
     "without residual connections or without batch norm the network is clearly worse; each other component's "
     "effect is measured",
     "no_residual: -5.95 points (McNemar p = 1e-20); no_dropout: +0.35 points (McNemar p = 0.4, within noise)",
     "stage3"),
]


@pytest.mark.parametrize("judge,claim,evidence,reference", WORDED, ids=[f"{i}" for i in range(len(WORDED))])
def test_each_finding_words_its_claim_and_numbers_as_the_report_prints_them(judge, claim, evidence, reference):
    finding = judge()  # judged inside the test, where mutation testing sees which test reaches which rule
    assert (finding.claim, finding.evidence, finding.reference) == (claim, evidence, findings.REFERENCES[reference])


def test_the_references_name_the_sources_the_thresholds_come_from():
    assert "70% in 10 epochs" in findings.REFERENCES["baseline"] and "38-40%" in findings.REFERENCES["collapse"]
    assert "Fig. 6" in findings.REFERENCES["scaling"] and "91.25%" in findings.REFERENCES["stage3"]
    assert "Glorot & Bengio 2010" in findings.REFERENCES["vanishing"]
    assert "data-processing inequality" in findings.REFERENCES["bottleneck"]


def test_each_threshold_counts_as_met_when_reached_exactly():
    """Values whose differences are exact in binary floating point, at each threshold."""
    assert findings.linear_collapse(0.30, affine=0.05, softmax=0.0, maxpool=0.2, maxpool_affine=False).shown
    assert not findings.linear_collapse(0.2999, affine=0.05, softmax=0.0, maxpool=0.2, maxpool_affine=False).shown
    assert findings.baseline_accuracy(0.70).shown
    assert findings.bottleneck({1: 0.1, 4: 0.15, 64: 0.2}, baseline=0.2).shown  # 10 points exactly
    assert findings.width_scaling(Difference(0.0, 1.0, NOISE), "width_x2").shown  # as well as the baseline
    assert not findings.residual_cnn_beats_baseline(Difference(0.0, STRONG, NOISE)).shown
    assert not findings.depth_scaling({"depth_x2": Difference(0.0, STRONG, NOISE)}).shown


def test_thresholds_count_whole_images_so_accuracies_over_10000_images_meet_them_exactly():
    """k / 10,000 accuracies exactly at each threshold, whose float differences land just below it."""
    assert 0.7474 - 0.6474 < findings.BOTTLENECK_BELOW_BASELINE  # 10.00 points, as floats subtract them
    assert findings.bottleneck({1: 0.6474, 4: 0.7, 16: 0.73}, baseline=0.7474).shown
    assert not findings.bottleneck({1: 0.6475, 4: 0.7, 16: 0.73}, baseline=0.7474).shown  # one image short
    assert 0.7474 - 0.4974 < findings.AFFINE_BELOW_BASELINE and 0.4974 - 0.4474 < findings.AFFINE_WITHIN_SOFTMAX
    assert findings.linear_collapse(0.7474, affine=0.4974, softmax=0.4474, maxpool=0.5, maxpool_affine=False).shown
    assert findings.linear_collapse(0.7474, affine=0.4974, softmax=0.5474, maxpool=0.5, maxpool_affine=False).shown
    assert not findings.linear_collapse(0.7474, affine=0.4975, softmax=0.4474, maxpool=0.5,
                                        maxpool_affine=False).shown
    assert not findings.linear_collapse(0.7474, affine=0.4974, softmax=0.4473, maxpool=0.5,
                                        maxpool_affine=False).shown
    assert 0.7 - 0.5 < 0.2 and findings.learned(0.7 - 0.5, 0.2)  # a threshold reached through arithmetic


def test_the_width_finding_calls_a_difference_within_noise_as_well_as_the_baseline():
    assert findings.width_scaling(Difference(-0.0030, 0.2, NOISE), "width x2").shown
    assert not findings.width_scaling(Difference(-0.0030, 0.001, NOISE), "width x2").shown


def test_a_tie_is_neither_rising_nor_shrinking_nor_a_cost():
    assert not findings.bottleneck({1: 0.5, 4: 0.5, 16: 0.7}, baseline=0.73).shown  # flat is not rising

    def depths(ratios, vals):
        return {d: {"input_over_output": r, "final_val_accuracy": v} for d, r, v in zip((4, 10, 20), ratios, vals)}
    assert not findings.vanishing_gradients(depths((0.1, 0.1, 1e-8), (0.49, 0.10, 0.10)), 0.2).shown
    at_threshold = findings.vanishing_gradients(depths((0.1, 1e-3, 1e-8), (0.2, 0.10, 0.10)), 0.2)
    assert at_threshold.shown and "at least 20.00%): 4; did not: 10, 20" in at_threshold.evidence
    all_learn = findings.vanishing_gradients(depths((0.1, 1e-3, 1e-8), (0.5, 0.4, 0.3)), 0.2)
    assert all_learn.evidence.endswith("learned (validation accuracy at least 20.00%): 4, 10, 20; did not: none")
    costly = Difference(-0.05, STRONG, NOISE)
    for harmless in (Difference(0.0, STRONG, NOISE), Difference(0.5, STRONG, NOISE)):  # no cost, or a gain
        assert not findings.components_matter({"no_residual": costly, "no_batchnorm": harmless},
                                               ("no_residual", "no_batchnorm")).shown
