"""The Stage 1-3 findings: each rule says shown exactly when its numbers meet it, and its evidence carries the
numbers; McNemar differences are called within noise at or above alpha."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
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
    variants = {"width_x2": SimpleNamespace(width=2, convs_per_stage=1),
                "depth_x2": SimpleNamespace(width=1, convs_per_stage=2)}
    vanishing = {"learned_accuracy": 0.2, "runs": {
        f"depth_{d}": {"depth": d, "grad_norms": {"0": {"first_over_last": r}}, "final_val_accuracy": v}
        for d, r, v in ((4, 0.1, 0.49), (10, 1e-3, 0.1), (20, 1e-8, 0.1))}}
    return SimpleNamespace(
        baseline={"test_accuracy": 0.735}, profile="quick", correct=correct,
        experiments={"runs": {k: {"test_accuracy": v} for k, v in runs.items()}, "bottleneck_widths": [1, 4, 16],
                     "baseline_channels": [32, 64, 128], "bottleneck_stage": 1,
                     "collapse": {"linear_maxpool": {"is_affine": False}, "linear_avgpool": {"is_affine": True}}},
        variants=object(), stress=SimpleNamespace(vanishing=vanishing),
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
