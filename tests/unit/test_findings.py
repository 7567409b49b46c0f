"""The Stage 1-3 findings: each rule says shown exactly when its numbers meet it, and its evidence carries the
numbers; a comparison of two configurations counts as an effect only beyond the seed-noise floor (a McNemar p on
the test images, however small, never makes one)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cifar10_study.analysis import findings
from cifar10_study.analysis.comparisons import SUMMARISED, SeededRuns
from cifar10_study.analysis.seed_noise import Difference
from cifar10_study.analysis.stats import NO_SEED_SPREAD, PREDICTION_BASIS, WELCH_BASIS, summarize
from cifar10_study.reporting import findings_report
from cifar10_study.reporting.study import Study

NOISE, STRONG = 0.05, 1e-40


def diff(difference: float, p_value: float | None, floor: float | None = 0.02, mcnemar_p: float = 1e-3,
         seeds: tuple[int, int] = (1, 3)) -> Difference:
    """A Difference as seed_noise.Difference.of gives it: p_value None means no floor was measured."""
    basis = NO_SEED_SPREAD if p_value is None else WELCH_BASIS if min(seeds) >= 2 else PREDICTION_BASIS
    return Difference(difference, None if p_value is None else floor, p_value, basis, seeds, mcnemar_p, NOISE)


BEYOND_BELOW = diff(-0.30, 1e-6)  # far below the reference, beyond seed noise
WITHIN_BELOW = diff(-0.30, 0.2, floor=0.5, mcnemar_p=STRONG)  # as far below, but seed noise reaches it


def test_a_difference_is_beyond_seed_noise_only_below_alpha_and_never_without_a_floor():
    assert diff(0.10, 0.01).beyond_noise and diff(0.10, 0.01).verdict == "beyond seed noise"
    assert not diff(0.02, NOISE).beyond_noise  # p equal to alpha is not below it
    assert diff(0.02, NOISE).verdict == "within seed noise"
    unmeasured = diff(0.10, None, mcnemar_p=STRONG)  # one seed a side: McNemar alone never makes an effect
    assert not unmeasured.beyond_noise and unmeasured.verdict == "seed spread not measured"


@pytest.mark.parametrize("accuracy,shown", [(0.70, True), (0.6999, False), (0.74, True)])
def test_the_baseline_finding_needs_seventy_percent(accuracy, shown):
    finding = findings.baseline_accuracy(accuracy, 0.003, 3)
    assert finding.shown is shown and f"test accuracy {100 * accuracy:.2f}% (mean of 3 seeds, sd 0.30 points)" \
        == finding.evidence


def test_the_baseline_finding_says_over_how_many_seeds_and_no_spread_for_one():
    assert findings.baseline_accuracy(0.7474, None, 1).evidence == "test accuracy 74.74% (mean of 1 seed)"
    assert findings.baseline_accuracy(0.7474, 0.0125, 2).evidence == \
        "test accuracy 74.74% (mean of 2 seeds, sd 1.25 points)"


@pytest.mark.parametrize("affine,softmax,baseline,gap,shown", [
    (0.39, 0.35, 0.74, BEYOND_BELOW, True),
    (0.41, 0.35, 0.74, BEYOND_BELOW, False),  # more than 5 points above the softmax classifier
    (0.39, 0.35, 0.63, BEYOND_BELOW, False),  # less than 25 points below the baseline
    (0.31, 0.35, 0.74, BEYOND_BELOW, True),   # within 5 points below the softmax classifier
    (0.39, 0.35, 0.74, WITHIN_BELOW, False),  # the thresholds met, but the gap within seed noise
    (0.39, 0.35, 0.74, diff(-0.35, None, mcnemar_p=STRONG), False),  # no seed spread to judge the gap by
])
def test_linear_collapse_needs_the_affine_network_near_softmax_and_far_below_the_baseline_beyond_seed_noise(
        affine, softmax, baseline, gap, shown):
    finding = findings.linear_collapse(baseline, affine, softmax, maxpool=0.70, maxpool_affine=False,
                                       affine_against_baseline=gap)
    assert finding.shown is shown
    assert "70.00%" in finding.evidence and "max-pooling alone keeps it non-linear" in finding.evidence
    assert f"affine against the baseline: {gap};" in finding.evidence


def test_the_bottleneck_finding_needs_rising_accuracy_and_a_narrowest_well_below_the_baseline_beyond_noise():
    rising = {1: 0.40, 4: 0.60, 16: 0.70, 64: 0.73}
    assert findings.bottleneck(rising, baseline=0.73, narrowest=BEYOND_BELOW).shown
    assert not findings.bottleneck(rising, baseline=0.73, narrowest=WITHIN_BELOW).shown  # within seed noise
    assert not findings.bottleneck({1: 0.40, 4: 0.65, 16: 0.60, 64: 0.73}, 0.73, BEYOND_BELOW).shown  # not rising
    assert not findings.bottleneck({1: 0.68, 4: 0.70, 16: 0.72}, 0.73, BEYOND_BELOW).shown  # narrowest too close
    evidence = findings.bottleneck({4: 0.60, 1: 0.40}, baseline=0.73, narrowest=BEYOND_BELOW).evidence
    assert "width 4: 60.00%" in evidence and evidence.endswith(f"the narrowest against the baseline: {BEYOND_BELOW}")


def test_scaling_findings_compare_each_variant_with_the_baseline():
    better, worse, noise = diff(0.01, 0.01), diff(-0.05, 1e-9), diff(-0.01, 0.3, mcnemar_p=STRONG)
    assert findings.width_scaling(better, "width x2").shown
    assert not findings.width_scaling(worse, "width x2").shown
    assert findings.depth_scaling({"depth x2": worse, "depth x3": worse}).shown
    assert not findings.depth_scaling({"depth x2": worse, "depth x3": noise}).shown  # within noise is not worse
    assert not findings.depth_scaling({"depth x2": diff(-0.05, None, mcnemar_p=STRONG)}).shown  # not measured
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


def test_stage3_findings_need_gains_and_costly_essential_components_beyond_seed_noise():
    beyond, noise = diff(0.03, 1e-6), diff(0.003, 0.4, mcnemar_p=STRONG)
    assert findings.residual_cnn_beats_baseline(beyond).shown
    assert not findings.residual_cnn_beats_baseline(noise).shown
    assert not findings.residual_cnn_beats_baseline(diff(0.03, None, mcnemar_p=STRONG)).shown  # not measured
    costly = diff(-0.08, 1e-5)
    ablations = {"no_residual": costly, "no_batchnorm": costly, "no_dropout": noise}
    finding = findings.components_matter(ablations, essential=("no_residual", "no_batchnorm"))
    assert finding.shown and "no_dropout: +0.30 points" in finding.evidence and "within seed noise" in finding.evidence
    assert not findings.components_matter({**ablations, "no_batchnorm": noise}, ("no_residual", "no_batchnorm")).shown
    assert not findings.components_matter({"no_residual": costly}, ("no_residual", "no_batchnorm")).shown
    # A cost McNemar calls overwhelming but seed noise reaches is no cost.
    assert not findings.components_matter({**ablations, "no_residual": WITHIN_BELOW},
                                           ("no_residual", "no_batchnorm")).shown


# --- the report's findings section, from a study's runs over seeds --------------------------------------------

N = 2000  # test images per run


def seeded(name: str, accuracy: dict[int, float]) -> SeededRuns:
    """A configuration's runs as SeededRuns holds them, as far as the findings read them: seed s gets exactly the
    first round(accuracy * N) test images right, so two configurations' McNemar counts on a seed are known."""
    correct = {seed: np.arange(N) < round(a * N) for seed, a in accuracy.items()}
    summary = {"run": name, "seeds": list(accuracy), **dict.fromkeys(SUMMARISED),
               "test_accuracy": summarize(list(accuracy.values()))}
    return SeededRuns(name, summary, dict(accuracy), correct,
                      per_seed={seed: {"test_accuracy": a} for seed, a in accuracy.items()})


# The quick profile's shape: the baseline and the full Stage 3 model three seeds each, every other configuration
# one seed. These runs show every finding.
RUNS = {
    "stage1": {0: 0.735, 1: 0.730, 2: 0.740},  # mean 73.50%, sd 0.50 points
    **{f"stage1_experiments/{name}": {0: a} for name, a in (
        ("linear_avgpool", 0.39), ("linear_maxpool", 0.70), ("softmax", 0.36),
        ("bottleneck_1", 0.40), ("bottleneck_4", 0.62), ("bottleneck_16", 0.71))},
    "stage2/width_x2": {0: 0.75}, "stage2/depth_x2": {0: 0.65},
    "stage3": {0: 0.78, 1: 0.775, 2: 0.785},  # sd 0.50 points: a one-seed floor of 2.48 points
    **{f"stage3_ablations/{name}": {0: a} for name, a in (
        ("no_residual", 0.69), ("no_batchnorm", 0.645), ("no_dropout", 0.7775), ("no_label_smoothing", 0.78),
        ("no_weight_decay", 0.776))},
}


def study(with_stage3: bool = True, alpha: float = 0.05, **overrides: dict[int, float]):
    """A Study-shaped namespace: the attributes the findings section reads, with RUNS (`overrides`: folder ->
    accuracy by seed, "/" written "__") over seeds, compared by the real Study.against."""
    accuracies = RUNS | {name.replace("__", "/"): a for name, a in overrides.items()}
    configurations = {name: seeded(name, a) for name, a in accuracies.items()
                      if with_stage3 or not name.startswith("stage3")}
    records = {name: runs.mean_record() for name, runs in configurations.items()}
    experiments = {name.removeprefix("stage1_experiments/"): r for name, r in records.items()
                   if name.startswith("stage1_experiments/")}
    variants = {"width_x2": SimpleNamespace(width=2), "depth_x2": SimpleNamespace(convs_per_stage=2)}
    table = pd.DataFrame({"variant": ["baseline", *variants], "width": [1, 2, 1], "convs_per_stage": [1, 1, 2]})
    vanishing = {"learned_accuracy": 0.2, "runs": {
        f"depth_{d}": {"depth": d, "grad_norms": {"0": {"first_over_last": r}}, "final_val_accuracy": v}
        for d, r, v in ((4, 0.1, 0.49), (10, 1e-3, 0.1), (20, 1e-8, 0.1))}}
    s = SimpleNamespace(
        seeded=configurations, records=records, baseline=records["stage1"], profile="quick",
        experiments={"runs": experiments, "bottleneck_widths": [1, 4, 16], "baseline_channels": [32, 64, 128],
                     "bottleneck_stage": 1,
                     "collapse": {"linear_maxpool": {"is_affine": False}, "linear_avgpool": {"is_affine": True}}},
        variants=table, stress=SimpleNamespace(vanishing=vanishing),
        params=SimpleNamespace(stage2=SimpleNamespace(variants=variants), statistics=SimpleNamespace(alpha=alpha)),
        done={"stage1", "stage2", "stage3"} if with_stage3 else {"stage1", "stage2"})
    s.against = lambda configuration, reference: Study.against(s, configuration, reference)
    return s


def judged(s) -> list:
    return [*findings_report.stage1_findings(s), *findings_report.stage2_findings(s),
            *findings_report.stage3_findings(s)]


def test_the_findings_section_judges_every_finding_on_the_studys_runs():
    every = judged(study())
    assert [f.stage for f in every] == ["Stage 1"] * 3 + ["Stage 2"] * 3 + ["Stage 3"] * 2
    assert all(f.shown for f in every), [f.claim for f in every if not f.shown]
    text = "\n".join(findings_report.findings_section(study()))
    assert "8 of 8 shown" in text and "not shown at this budget" not in text
    assert "test accuracy 73.50% (mean of 3 seeds, sd 0.50 points)" in text
    # Each ablation's effect with the floor it is judged against (the full model's three seeds' prediction
    # interval for a one-seed ablation) and McNemar's p, labelled as test-image sampling only.
    assert ("no_dropout: -0.25 points (1 against 3 seed(s), seed-noise floor ±2.48 points: within seed noise; "
            "McNemar p = ") in text and "test images only" in text
    assert "width 16: 71.00%, width 64: 73.50%; baseline 73.50%" in text  # the baseline is the widest point
    assert "beyond the seed-noise floor" in text and "at level 0.05" in text


def test_a_finding_the_runs_do_not_show_says_so_and_missing_stages_are_left_out():
    text = "\n".join(findings_report.findings_section(study(with_stage3=False, stage1={0: 0.595, 1: 0.60, 2: 0.605})))
    assert "Stage 3" not in text and "**not shown at this budget**" in text
    assert "test accuracy 60.00% (mean of 3 seeds, sd 0.50 points)" in text


def test_runs_whose_seeds_disagree_are_within_seed_noise_however_small_mcnemars_p():
    """The issue's case: the full Stage 3 model's seeds spread over 18 points, so its gain over the baseline and
    each one-seed ablation's cost, overwhelming on the test images of the seeds compared, are what retraining
    alone can give; the findings claim neither."""
    disagree = study(stage3={0: 0.84, 1: 0.66, 2: 0.82}, stage3_ablations__no_residual={0: 0.68},
                     stage3_ablations__no_batchnorm={0: 0.66})
    beats = disagree.against("stage3", "stage1")
    assert beats.difference == pytest.approx(0.7733333 - 0.735) and beats.basis == WELCH_BASIS
    assert beats.mcnemar_p < 1e-6 and beats.verdict == "within seed noise" and not beats.beyond_noise
    for ablation in ("no_residual", "no_batchnorm"):
        cost = disagree.against(f"stage3_ablations/{ablation}", "stage3")
        assert cost.difference < -0.05 and cost.basis == PREDICTION_BASIS and cost.seeds == (1, 3)
        assert cost.mcnemar_p < 1e-6 and cost.verdict == "within seed noise"
        assert abs(cost.difference) < cost.floor
    residual, components = findings_report.stage3_findings(disagree)
    assert not residual.shown and not components.shown
    assert "within seed noise" in residual.evidence and "beyond seed noise" not in components.evidence
    text = "\n".join(findings_report.findings_section(disagree))
    assert "6 of 8 shown" in text and text.count("**not shown at this budget**") == 2


def test_the_same_effects_with_seeds_that_agree_are_beyond_seed_noise_and_claimed():
    agree = study(stage3={0: 0.84, 1: 0.835, 2: 0.845}, stage3_ablations__no_residual={0: 0.68},
                  stage3_ablations__no_batchnorm={0: 0.66})
    beats = agree.against("stage3", "stage1")
    assert beats.basis == WELCH_BASIS and beats.verdict == "beyond seed noise" and beats.difference > beats.floor
    cost = agree.against("stage3_ablations/no_residual", "stage3")
    assert cost.basis == PREDICTION_BASIS and cost.verdict == "beyond seed noise" and -cost.difference > cost.floor
    assert all(f.shown for f in findings_report.stage3_findings(agree))


def test_a_one_seed_baseline_measures_no_floor_so_no_comparison_with_it_is_claimed():
    """With one seed a side there is no seed spread: McNemar's p on the images is shown, and nothing is claimed."""
    lone = study(stage1={0: 0.735}, stage3={0: 0.84})
    every = {f.claim: f for f in judged(lone)}
    assert lone.against("stage3", "stage1").verdict == "seed spread not measured"
    assert lone.against("stage3", "stage1").mcnemar_p < 1e-6
    assert not every["the residual CNN beats the Stage 1 baseline at the same budget, beyond seed noise"].shown
    assert not every["deeper plain stacks train worse at the same budget, beyond seed noise"].shown
    assert every["width_x2 does at least as well as the baseline"].shown  # nothing beyond noise: not worse


def test_the_findings_are_judged_at_the_studys_level():
    """At a level below every p value of the shown study, no comparison is beyond seed noise."""
    strict = study(alpha=1e-9)
    assert not any(f.shown for f in findings_report.stage3_findings(strict))
    assert "at level 1e-09" in "\n".join(findings_report.findings_section(strict))


# --- what each finding says: the report prints these words ---------------------------------------------------

WORDED = [
    (lambda: findings.baseline_accuracy(0.7474, 0.003, 3), "the baseline CNN reaches at least 70.00%",
     "test accuracy 74.74% (mean of 3 seeds, sd 0.30 points)", "baseline"),
    (lambda: findings.linear_collapse(0.7474, 0.3897, 0.3519, 0.7047, maxpool_affine=False,
                                      affine_against_baseline=diff(-0.3577, 1e-5, 0.0248, STRONG)),
     "without non-linearities the CNN collapses to a linear classifier: within 5 points of softmax regression on "
     "the pixels and at least 25 points below the ReLU baseline, beyond seed noise",
     "affine network (identity + average pooling) 38.97%, softmax on pixels 35.19%, ReLU baseline 74.74%; affine "
     "against the baseline: -35.77 points (1 against 3 seed(s), seed-noise floor ±2.48 points: beyond seed noise; "
     "McNemar p = 1e-40, test images only); identity + max-pooling 70.47% (max-pooling alone keeps it non-linear, "
     "so it is no affine map)", "collapse"),
    (lambda: findings.linear_collapse(0.7474, 0.3897, 0.3519, 0.7047, maxpool_affine=True,
                                      affine_against_baseline=diff(-0.3577, 1e-5, 0.0248, STRONG)),
     "without non-linearities the CNN collapses to a linear classifier: within 5 points of softmax regression on "
     "the pixels and at least 25 points below the ReLU baseline, beyond seed noise",
     "affine network (identity + average pooling) 38.97%, softmax on pixels 35.19%, ReLU baseline 74.74%; affine "
     "against the baseline: -35.77 points (1 against 3 seed(s), seed-noise floor ±2.48 points: beyond seed noise; "
     "McNemar p = 1e-40, test images only); identity + max-pooling 70.47% (it fitted an affine map, which "
     "max-pooling does not guarantee)", "collapse"),
    (lambda: findings.bottleneck({16: 0.7255, 1: 0.5161, 4: 0.621}, 0.7474, diff(-0.2313, 1e-4, 0.0248, STRONG)),
     "accuracy rises with the bottleneck's width, the narrowest at least 10 points below the baseline, beyond seed "
     "noise",
     "width 1: 51.61%, width 4: 62.10%, width 16: 72.55%; baseline 74.74%; the narrowest against the baseline: "
     "-23.13 points (1 against 3 seed(s), seed-noise floor ±2.48 points: beyond seed noise; McNemar p = 1e-40, "
     "test images only)", "bottleneck"),
    (lambda: findings.width_scaling(diff(0.0175, 0.3, 0.021, 3.1e-5), "width_x2"),
     "width_x2 does at least as well as the baseline",
     "width_x2 against the baseline: +1.75 points (1 against 3 seed(s), seed-noise floor ±2.10 points: within seed "
     "noise; McNemar p = 3.1e-05, test images only)", "scaling"),
    (lambda: findings.width_scaling(diff(0.0175, None, mcnemar_p=3.1e-5, seeds=(1, 1)), "width_x2"),
     "width_x2 does at least as well as the baseline",
     "width_x2 against the baseline: +1.75 points (1 against 1 seed(s): seed spread not measured; McNemar p = "
     "3.1e-05, test images only)", "scaling"),
    (lambda: findings.depth_scaling({"depth_x2": diff(-0.0866, 1e-4, 0.0248, STRONG),
                                     "depth_x3": diff(-0.1, 1e-5, 0.0248, STRONG)}),
     "deeper plain stacks train worse at the same budget, beyond seed noise",
     "depth_x2 against the baseline: -8.66 points (1 against 3 seed(s), seed-noise floor ±2.48 points: beyond seed "
     "noise; McNemar p = 1e-40, test images only); depth_x3 against the baseline: -10.00 points (1 against 3 "
     "seed(s), seed-noise floor ±2.48 points: beyond seed noise; McNemar p = 1e-40, test images only)", "scaling"),
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
    (lambda: findings.residual_cnn_beats_baseline(diff(0.0268, 0.004, 0.0153, 4.7e-11, seeds=(3, 3))),
     "the residual CNN beats the Stage 1 baseline at the same budget, beyond seed noise",
     "Stage 3 against Stage 1: +2.68 points (3 against 3 seed(s), seed-noise floor ±1.53 points: beyond seed noise; "
     "McNemar p = 4.7e-11, test images only)", "stage3"),
    (lambda: findings.components_matter({"no_residual": diff(-0.0595, 1e-3, 0.0248, 1e-20),
                                         "no_dropout": diff(0.0035, 0.4, 0.0248, 0.4)}, ("no_residual",)),
     "without residual connections or without batch norm the network is worse beyond seed noise; each other "
     "component's effect is measured against the same floor",
     "no_residual: -5.95 points (1 against 3 seed(s), seed-noise floor ±2.48 points: beyond seed noise; McNemar p = "
     "1e-20, test images only); no_dropout: +0.35 points (1 against 3 seed(s), seed-noise floor ±2.48 points: within "
     "seed noise; McNemar p = 0.4, test images only)", "stage3"),
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
    assert findings.linear_collapse(0.30, affine=0.05, softmax=0.0, maxpool=0.2, maxpool_affine=False,
                                    affine_against_baseline=BEYOND_BELOW).shown
    assert not findings.linear_collapse(0.2999, affine=0.05, softmax=0.0, maxpool=0.2, maxpool_affine=False,
                                        affine_against_baseline=BEYOND_BELOW).shown
    assert findings.baseline_accuracy(0.70, None, 1).shown
    assert findings.bottleneck({1: 0.1, 4: 0.15, 64: 0.2}, baseline=0.2, narrowest=BEYOND_BELOW).shown  # 10 points
    assert findings.width_scaling(diff(0.0, 1.0), "width_x2").shown  # as well as the baseline
    assert not findings.residual_cnn_beats_baseline(diff(0.0, STRONG)).shown
    assert not findings.depth_scaling({"depth_x2": diff(0.0, STRONG)}).shown


def test_thresholds_count_whole_images_so_accuracies_over_10000_images_meet_them_exactly():
    """k / 10,000 accuracies exactly at each threshold, whose float differences land just below it."""
    def collapse(affine: float, softmax: float) -> bool:
        return findings.linear_collapse(0.7474, affine=affine, softmax=softmax, maxpool=0.5, maxpool_affine=False,
                                        affine_against_baseline=BEYOND_BELOW).shown
    assert 0.7474 - 0.6474 < findings.BOTTLENECK_BELOW_BASELINE  # 10.00 points, as floats subtract them
    assert findings.bottleneck({1: 0.6474, 4: 0.7, 16: 0.73}, baseline=0.7474, narrowest=BEYOND_BELOW).shown
    assert not findings.bottleneck({1: 0.6475, 4: 0.7, 16: 0.73}, 0.7474, BEYOND_BELOW).shown  # one image short
    assert 0.7474 - 0.4974 < findings.AFFINE_BELOW_BASELINE and 0.4974 - 0.4474 < findings.AFFINE_WITHIN_SOFTMAX
    assert collapse(0.4974, 0.4474) and collapse(0.4974, 0.5474)
    assert not collapse(0.4975, 0.4474) and not collapse(0.4974, 0.4473)
    assert 0.7 - 0.5 < 0.2 and findings.learned(0.7 - 0.5, 0.2)  # a threshold reached through arithmetic


def test_the_width_finding_calls_a_difference_within_noise_as_well_as_the_baseline():
    assert findings.width_scaling(diff(-0.0030, 0.2, mcnemar_p=STRONG), "width x2").shown
    assert not findings.width_scaling(diff(-0.0300, 0.001), "width x2").shown


def test_a_tie_is_neither_rising_nor_shrinking_nor_a_cost():
    assert not findings.bottleneck({1: 0.5, 4: 0.5, 16: 0.7}, baseline=0.73, narrowest=BEYOND_BELOW).shown

    def depths(ratios, vals):
        return {d: {"input_over_output": r, "final_val_accuracy": v} for d, r, v in zip((4, 10, 20), ratios, vals)}
    assert not findings.vanishing_gradients(depths((0.1, 0.1, 1e-8), (0.49, 0.10, 0.10)), 0.2).shown
    at_threshold = findings.vanishing_gradients(depths((0.1, 1e-3, 1e-8), (0.2, 0.10, 0.10)), 0.2)
    assert at_threshold.shown and "at least 20.00%): 4; did not: 10, 20" in at_threshold.evidence
    all_learn = findings.vanishing_gradients(depths((0.1, 1e-3, 1e-8), (0.5, 0.4, 0.3)), 0.2)
    assert all_learn.evidence.endswith("learned (validation accuracy at least 20.00%): 4, 10, 20; did not: none")
    costly = diff(-0.05, STRONG)
    for harmless in (diff(0.0, STRONG), diff(0.5, STRONG)):  # no cost, or a gain
        assert not findings.components_matter({"no_residual": costly, "no_batchnorm": harmless},
                                               ("no_residual", "no_batchnorm")).shown
