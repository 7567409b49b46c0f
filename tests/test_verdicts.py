"""The sign and the words of the study's conclusion: `compare` and the report's Stage 5 verdicts for
configurations whose results are known by construction (A better, worse, no different; each both ways
round; with and without a Welch interval), from run files laid out as training writes them."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from cifar10_study.analysis.comparisons import SeededRuns, compare
from cifar10_study.core.errors import StudyError
from cifar10_study.core.fileio import write_json
from cifar10_study.data import CLASSES
from cifar10_study.reporting import report_resnet
from cifar10_study.reporting.report_resnet import _comparison_row, stage5_section

N = 100  # test images per run; image i is of class i % 10
RESNET18, SE_RESNET18 = 11_173_962, 11_263_042


def write_runs(name: str, correct_first: dict[int, int], *, se: int | None = 16, mixup: float = 1.0,
               cutout: int = 16, params: int = SE_RESNET18) -> None:
    """runs/<name>/seed_<s>/ as training writes them, one per seed: the run gets exactly the first k of
    the N test images right (test accuracy k / N), so any two runs' per-image agreement is known."""
    labels = np.arange(N) % 10
    for seed, k in correct_first.items():
        folder = f"runs/{name}/seed_{seed}"
        predicted = np.where(np.arange(N) < k, labels, (labels + 1) % 10)
        acc = k / N
        write_json(f"{folder}/results.json", {
            "test_accuracy": acc, "test_loss": 2 - acc, "final_val_accuracy": acc - 0.02,
            "final_train_accuracy": acc + 0.02, "params": params, "flops_per_image": 1_113_000_000, "epochs": 2,
            "train_images": 2000, "test_images": N})
        write_json(f"{folder}/info.json", {
            "run": f"{name}/seed_{seed}", "train_seconds": 100.0 + seed, "epoch_seconds": [50.0, 50.0], "images_per_second": 40.0 + seed,
            "peak_memory_bytes": 2_000_000_000, "peak_memory_kind": "process_peak_rss", "compiled": False,
            "compile": {"mode": "off", "graphs": 0}, "runtime": {"device": "auto"},
            "provenance": {"profile": "quick", "seed": seed, "device": "cpu", "data_official": False},
            "config": {"model": {"name": "resnet18", "se_reduction": se},
                       "train": {"epochs": 2, "batch_size": 128, "seed": seed, "mixup_alpha": mixup,
                                 "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
                                 "schedule": {"name": "cosine"},
                                 "augment": {"crop_padding": 4, "flip": True, "cutout": cutout}}}})
        pd.DataFrame({"epoch": [1, 2], "train_acc": [acc - 0.1, acc + 0.05],
                      "val_acc": [acc - 0.1, acc - 0.02]}).to_csv(f"{folder}/history.csv", index=False)
        pd.DataFrame({"actual": [CLASSES[i] for i in labels],
                      "predicted": [CLASSES[i] for i in predicted]}).to_csv(f"{folder}/predictions.csv", index=False)


def runs(name: str, correct_first: dict[int, int], **kw) -> SeededRuns:
    write_runs(name, correct_first, **kw)
    return SeededRuns.load(name, list(correct_first))


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


# Welch by hand for three seeds a side, each side's accuracies spaced 0.01 apart (sample std 0.01):
# squared standard errors 0.0001 / 3 each, se = sqrt(2e-4 / 3) = 0.0081650, df = (2v)^2 / (2 v^2 / 2) = 4,
# t(0.975, 4) = 2.7764451, half-width 0.0226697.
HALF = 2.7764451 * math.sqrt(2e-4 / 3)


def test_seeded_runs_load_summarises_every_seed_from_the_files():
    r = runs("stage5", {0: 90, 1: 91, 2: 92})
    assert r.accuracy == {0: 0.90, 1: 0.91, 2: 0.92}
    for seed, k in {0: 90, 1: 91, 2: 92}.items():
        np.testing.assert_array_equal(r.correct[seed], np.arange(N) < k)
        assert r.histories[seed]["val_acc"].tolist() == pytest.approx([k / N - 0.1, k / N - 0.02])
        assert r.per_seed[seed]["provenance"]["seed"] == seed and r.per_seed[seed]["train_seconds"] == 100 + seed
    s = r.summary
    assert s["run"] == "stage5" and s["seeds"] == [0, 1, 2]
    assert s["test_accuracy"] == {"n": 3, "mean": pytest.approx(0.91), "std": pytest.approx(0.01)}
    assert s["test_loss"] == {"n": 3, "mean": pytest.approx(1.09), "std": pytest.approx(0.01)}
    assert s["final_val_accuracy"]["mean"] == pytest.approx(0.89)
    assert s["final_train_accuracy"]["mean"] == pytest.approx(0.93)
    assert s["train_seconds"] == {"n": 3, "mean": 101.0, "std": 1.0}
    assert s["images_per_second"]["mean"] == 41.0
    assert (s["params"], s["flops_per_image"], s["epochs"], s["train_images"], s["test_images"]) == \
        (SE_RESNET18, 1_113_000_000, 2, 2000, N)
    assert (s["peak_memory_bytes"], s["peak_memory_kind"], s["compiled"], s["compile"], s["runtime"]) == \
        (2_000_000_000, "process_peak_rss", False, {"mode": "off", "graphs": 0}, {"device": "auto"})
    # What all seeds share: provenance and recipe without the seed.
    assert s["provenance"] == {"profile": "quick", "device": "cpu", "data_official": False}
    assert s["config"]["model"] == {"name": "resnet18", "se_reduction": 16}
    assert "seed" not in s["config"]["train"] and s["config"]["train"]["mixup_alpha"] == 1.0


def test_compare_a_better_configuration_both_ways_round():
    better, worse = runs("stage5", {0: 90, 1: 91, 2: 92}), runs("stage4", {0: 80, 1: 81, 2: 82})
    c = compare(better, worse)
    assert (c["a"], c["b"], c["verdict"], c["basis"]) == ("stage5", "stage4", "better", "Welch 95% CI")
    w = c["welch"]
    assert w["difference"] == pytest.approx(0.10)
    assert (w["ci_low"], w["ci_high"]) == pytest.approx((0.10 - HALF, 0.10 + HALF))
    assert w["df"] == pytest.approx(4.0)
    assert w["p_value"] == pytest.approx(sps.ttest_ind([0.90, 0.91, 0.92], [0.80, 0.81, 0.82], equal_var=False).pvalue)
    # Per seed, images 80+s .. 89+s are right for A only: 10 per seed, 30 pooled, none for B only.
    assert c["mcnemar"] == {"a_only": 30, "b_only": 0, "n": 300, "pairs": 3, "p_value": pytest.approx(2 / 2**30)}

    r = compare(worse, better)
    assert (r["a"], r["b"], r["verdict"]) == ("stage4", "stage5", "worse")
    assert r["welch"]["difference"] == pytest.approx(-0.10)
    assert (r["welch"]["ci_low"], r["welch"]["ci_high"]) == pytest.approx((-0.10 - HALF, -0.10 + HALF))
    assert r["welch"]["p_value"] == pytest.approx(w["p_value"])
    assert (r["mcnemar"]["a_only"], r["mcnemar"]["b_only"]) == (0, 30)


def test_compare_builds_the_interval_at_the_confidence_asked():
    better, worse = runs("stage5", {0: 90, 1: 91, 2: 92}), runs("stage4", {0: 80, 1: 81, 2: 82})
    c = compare(better, worse, confidence=0.99)
    # t(0.995, 4) = 4.6040949 instead of t(0.975, 4): a wider interval, still clear of 0.
    assert c["welch"]["ci_low"] == pytest.approx(0.10 - 4.6040949 * math.sqrt(2e-4 / 3))
    assert (c["verdict"], c["basis"]) == ("better", "Welch 99% CI")


def test_compare_no_difference_both_ways_round():
    a, b = runs("a", {0: 90, 1: 91, 2: 92}), runs("b", {0: 89, 1: 92, 2: 90})
    # mean 0.91 against 0.90333: +0.00667; the interval (about +-0.031) straddles 0.
    for x, y, sign in ((a, b, 1), (b, a, -1)):
        c = compare(x, y)
        assert c["verdict"] == "no significant difference" and c["basis"] == "Welch 95% CI"
        assert c["welch"]["difference"] == pytest.approx(sign * 0.02 / 3)
        assert c["welch"]["ci_low"] < 0 < c["welch"]["ci_high"]
    # Discordant images: seed 0 one for a, seed 1 one for b, seed 2 two for a -> 3 against 1, p = 0.625.
    assert compare(a, b)["mcnemar"] == {"a_only": 3, "b_only": 1, "n": 300, "pairs": 3, "p_value": pytest.approx(0.625)}


def test_compare_with_one_seed_decides_by_mcnemar_in_the_right_direction():
    a, b = runs("a", {0: 90}), runs("b", {0: 80})
    c = compare(a, b)
    assert c["welch"]["ci_low"] is None and c["welch"]["difference"] == pytest.approx(0.10)
    assert (c["verdict"], c["basis"]) == ("better", "McNemar (exact, pooled over matched seeds)")
    assert c["mcnemar"] == {"a_only": 10, "b_only": 0, "n": N, "pairs": 1, "p_value": pytest.approx(2 / 2**10)}
    assert compare(b, a)["verdict"] == "worse"


def test_compare_pools_mcnemar_over_the_shared_seeds_only():
    a, b = runs("a", {0: 90, 1: 91, 2: 92}), runs("b", {0: 80, 2: 82})
    c = compare(a, b)
    assert c["mcnemar"]["pairs"] == 2 and c["mcnemar"]["a_only"] == 20 and c["mcnemar"]["n"] == 2 * N
    assert (c["welch"]["n_a"], c["welch"]["n_b"]) == (3, 2)
    assert c["welch"]["difference"] == pytest.approx(0.91 - 0.81)


@pytest.mark.parametrize("b_seed,b_images", [(0, 5), (1, 4)], ids=["other test images", "no common seed"])
def test_compare_on_different_test_images_or_seeds_is_a_clear_error(b_seed, b_images):
    a = SeededRuns("a", {}, {0: 0.5}, {0: np.ones(4, bool)})
    b = SeededRuns("b", {}, {b_seed: 0.5}, {b_seed: np.ones(b_images, bool)})
    with pytest.raises(StudyError, match="a and b were not run on the same seeds and test images"):
        compare(a, b)


def test_a_comparison_row_states_a_minus_b_its_interval_and_counts():
    c = compare(runs("stage5", {0: 90, 1: 91, 2: 92}), runs("stage4", {0: 80, 1: 81, 2: 82}))
    assert _comparison_row("stage5 vs stage4", c) == {
        "comparison (A vs B)": "stage5 vs stage4", "A - B (points)": "+10.00", "95% CI (points)": "[+7.73, +12.27]",
        "McNemar p": "1.86e-09", "images only A / only B gets right": "30 / 0", "A is": "better"}
    r = compare(runs("one", {0: 80}), runs("other", {0: 90}))
    assert _comparison_row("one vs other", r) == {
        "comparison (A vs B)": "one vs other", "A - B (points)": "-10.00", "95% CI (points)": "n/a (one seed each)",
        "McNemar p": "0.00195", "images only A / only B gets right": "0 / 10", "A is": "worse"}


@pytest.fixture
def figures(monkeypatch):
    """The figure the section draws, recorded instead of drawn: (curves, path, title) per call."""
    calls = []
    monkeypatch.setattr(report_resnet.plots, "epoch_curves", lambda *args: calls.append(args))
    return calls


def stage5_study(stage4: dict, stage5: dict, no_se: dict, no_mixup: dict, no_cutout: dict):
    """Stage 4, Stage 5 and its three ablations, each given as {seed: images right}."""
    return (runs("stage4", stage4, se=None, mixup=0.0, cutout=0, params=RESNET18), runs("stage5", stage5),
            {"no_se": runs("stage5_ablations/no_se", no_se, se=None, params=RESNET18),
             "no_mixup": runs("stage5_ablations/no_mixup", no_mixup, mixup=0.0),
             "no_cutout": runs("stage5_ablations/no_cutout", no_cutout, cutout=0)})


# Three seeds. Stage 5 beats Stage 4 by 10 points, the SE ablation beats Stage 5 by 5 (SE hurts), the
# MixUp ablation is 10 below (MixUp helps), the Cutout ablation is within noise (+0.67, interval [-2.45, +3.79]).
# Every interval is 100 x (difference +- t(0.975, df) x se) as in HALF (+-2.27 points) where both sides have
# std 0.01; with the Cutout ablation's std 0.01528, df = 3.448 and the half-width is 3.11 points.
# McNemar p: 30 / 0 discordant images -> 2 / 2^30 = 1.86e-09; 45 / 0 -> 5.68e-14; 28 / 0 -> 7.45e-09;
# 0 / 15 -> 6.1e-05; 3 / 1 -> 0.625; none -> 1.
SECTION = """\
## Stage 5: SE-ResNet-18 + MixUp + Cutout

Stage 4's ResNet-18 and recipe with squeeze-and-excitation in every block (reduction 16), MixUp and Cutout; \
11,263,042 parameters (+89,080 for SE). Recipe: SGD lr 0.1, momentum 0.9, weight decay 0.0005, batch 128, cosine \
schedule over 2 epochs; augmentation: random crop (pad 4), horizontal flip, Cutout 16px, MixUp alpha 1. Each \
ablation turns one component off. Same seeds as Stage 4 (0, 1, 2).

| configuration        | SE    | MixUp   | Cutout   |     params | train acc                 | test acc                  |
|:---------------------|:------|:--------|:---------|-----------:|:--------------------------|:--------------------------|
| stage4 (ResNet-18)   | False | False   | False    | 11,173,962 | 83.00% +- 1.00% (3 seeds) | 81.00% +- 1.00% (3 seeds) |
| stage5 (all on)      | True  | True    | True     | 11,263,042 | 93.00% +- 1.00% (3 seeds) | 91.00% +- 1.00% (3 seeds) |
| no_se (ablation)     | False | True    | True     | 11,173,962 | 98.00% +- 1.00% (3 seeds) | 96.00% +- 1.00% (3 seeds) |
| no_mixup (ablation)  | True  | False   | True     | 11,263,042 | 83.00% +- 1.00% (3 seeds) | 81.00% +- 1.00% (3 seeds) |
| no_cutout (ablation) | True  | True    | False    | 11,263,042 | 92.33% +- 1.53% (3 seeds) | 90.33% +- 1.53% (3 seeds) |

| comparison (A vs B)   | A - B (points)   | 95% CI (points)   | McNemar p   | images only A / only B gets right   | A is                      |
|:----------------------|:-----------------|:------------------|:------------|:------------------------------------|:--------------------------|
| stage5 vs stage4      | +10.00           | [+7.73, +12.27]   | 1.86e-09    | 30 / 0                              | better                    |
| no_se vs stage4       | +15.00           | [+12.73, +17.27]  | 5.68e-14    | 45 / 0                              | better                    |
| no_mixup vs stage4    | +0.00            | [-2.27, +2.27]    | 1           | 0 / 0                               | no significant difference |
| no_cutout vs stage4   | +9.33            | [+6.21, +12.45]   | 7.45e-09    | 28 / 0                              | better                    |
| stage5 vs no_se       | -5.00            | [-7.27, -2.73]    | 6.1e-05     | 0 / 15                              | worse                     |
| stage5 vs no_mixup    | +10.00           | [+7.73, +12.27]   | 1.86e-09    | 30 / 0                              | better                    |
| stage5 vs no_cutout   | +0.67            | [-2.45, +3.79]    | 0.625       | 3 / 1                               | no significant difference |

Stage 5 against Stage 4: +10.00 points, **better** (Welch 95% CI): Stage 5 beats the Stage 4 reproduction, across 3 seeds.
- se: hurts (the ablation beats the full model); -5.00 points for the full model (Welch 95% CI).
- mixup: helps (the full model beats the ablation); +10.00 points for the full model (Welch 95% CI).
- cutout: has no significant effect; +0.67 points for the full model (Welch 95% CI).

How to read this: the CI is Welch's 95% interval on the difference of mean test accuracy over seeds (it needs at \
least two seeds per configuration, with some spread); McNemar's exact test compares the two configurations image \
by image on the same test images, pooled over matched seeds (seeds share the test images, so pooling overstates \
independence). The verdict uses the CI when there is one, else McNemar at p < 0.05. Training accuracy under MixUp \
is measured against each mixed image's dominant label.

![Stages 4 and 5](figures/stage5_ablations.png)
"""


def test_the_stage5_section_states_each_verdict_across_seeds(figures):
    stage4, stage5, ablations = stage5_study({0: 80, 1: 81, 2: 82}, {0: 90, 1: 91, 2: 92}, {0: 95, 1: 96, 2: 97},
                                             {0: 80, 1: 81, 2: 82}, {0: 89, 1: 92, 2: 90})
    assert "\n".join(stage5_section(stage4, stage5, ablations)) == SECTION
    [(curves, path, title)] = figures
    assert str(path) == "reports/figures/stage5_ablations.png"
    assert title == "Stages 4 and 5, mean validation accuracy over seeds (quick profile)"
    # Mean validation accuracy over the seeds, per epoch: (k / N - 0.1, k / N - 0.02) averaged over k.
    expected = pd.DataFrame({"stage4": [0.71, 0.79], "stage5": [0.81, 0.89], "no_se": [0.86, 0.94],
                             "no_mixup": [0.71, 0.79], "no_cutout": [0.71 + 0.28 / 3, 0.79 + 0.28 / 3]},
                            index=pd.Index([1, 2], name="epoch"))
    pd.testing.assert_frame_equal(curves, expected)


def test_a_worse_stage5_is_never_called_better(figures):
    # Stage 4 and Stage 5 swapped: Stage 5 is 10 points below, across seeds.
    stage4, stage5, ablations = stage5_study({0: 90, 1: 91, 2: 92}, {0: 80, 1: 81, 2: 82}, {0: 95, 1: 96, 2: 97},
                                             {0: 80, 1: 81, 2: 82}, {0: 89, 1: 92, 2: 90})
    lines = stage5_section(stage4, stage5, ablations)
    assert ("Stage 5 against Stage 4: -10.00 points, **worse** (Welch 95% CI): the data do not support the claim "
            "that Stage 5 beats the Stage 4 reproduction.") in lines
    assert "| stage5 vs stage4      | -10.00           | [-12.27, -7.73]   | 1.86e-09    | 0 / 30" in "\n".join(lines)


def test_with_one_seed_the_verdicts_speak_of_trained_models_not_of_components(figures):
    # One seed: no Welch interval, McNemar decides. Stage 5 is right on 10 more images than Stage 4 (p = 2 / 2^10);
    # the SE ablation on 10 more than Stage 5; the MixUp ablation on 10 fewer; the Cutout ablation on 1 fewer (p = 1).
    stage4, stage5, ablations = stage5_study({0: 80}, {0: 90}, {0: 100}, {0: 80}, {0: 89})
    lines = stage5_section(stage4, stage5, ablations)
    mcnemar = "McNemar (exact, pooled over matched seeds)"
    caveat = "one seed each: a difference between trained models, not yet a component effect"
    assert (f"Stage 5 against Stage 4: +10.00 points, **better** ({mcnemar}): Stage 5's trained models beat Stage 4's "
            f"on these test images, but without a Welch interval (one seed each) seed-to-seed variation is not "
            f"accounted for, so this does not establish that the Stage 5 recipe is better (more seeds, as in the full "
            f"profile, would).") in lines
    assert lines[-8:-5] == [
        f"- se: the ablation without it scored higher than the full model ({caveat}); -10.00 points for the full "
        f"model ({mcnemar}).",
        f"- mixup: the full model scored higher than the ablation without it ({caveat}); +10.00 points for the full "
        f"model ({mcnemar}).",
        f"- cutout: no significant difference between the two models ({caveat}); +1.00 points for the full model "
        f"({mcnemar}).",
    ]
    assert "| stage5 vs stage4      | +10.00           | n/a (one seed each) | 0.00195     | 10 / 0" in "\n".join(lines)
    assert "Same seeds as Stage 4 (0)." in lines[2]


def test_seeds_without_spread_give_no_interval_and_say_why(figures):
    # Two seeds, each configuration equally good on both: zero variance, so McNemar decides (20 / 0 images).
    stage4, stage5, ablations = stage5_study({0: 80, 1: 80}, {0: 90, 1: 90}, {0: 90, 1: 90}, {0: 80, 1: 80},
                                             {0: 90, 1: 90})
    lines = stage5_section(stage4, stage5, ablations)
    assert any(line.startswith("Stage 5 against Stage 4: +10.00 points, **better** (McNemar") and
               "without a Welch interval (no spread across seeds)" in line for line in lines)
    assert "| stage5 vs stage4      | +10.00           | n/a (no spread across seeds) |" in "\n".join(lines)
    assert ("- se: no significant difference between the two models (no spread across seeds: a difference between "
            "trained models, not yet a component effect); +0.00 points for the full model (McNemar (exact, pooled "
            "over matched seeds)).") in lines
