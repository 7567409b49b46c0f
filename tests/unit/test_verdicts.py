"""The sign and the words of the study's conclusion: `compare` and the report's Stage 5 verdicts for
configurations whose results are known by construction (A better, worse, no different; each both ways
round; with and without a Welch interval), from run files laid out as training writes them; and at a profile
whose Stages 4-5 only check the pipeline, the same numbers with no verdict anywhere."""
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from cifar10_study.analysis.comparisons import (
    SeededRuns,
    SeedSettings,
    compare,
    compare_calibration,
    holm_adjusted,
    mean_val_curves,
)
from cifar10_study.analysis.stage45_results import Stage5Results, Stage45AnalysisParams, write_outputs
from cifar10_study.analysis.stats import StatisticsConfig
from cifar10_study.core.errors import StudyError
from cifar10_study.core.fileio import read_json, write_json
from cifar10_study.data import CLASSES
from cifar10_study.reporting import figures
from cifar10_study.reporting.comparison_wording import comparison_row
from cifar10_study.reporting.formatting import TIMING_LINK
from cifar10_study.reporting.header import header
from cifar10_study.reporting.stage45_report import stage4_section, stage5_section
from cifar10_study.reporting.summary import StageResult, stage4_verdict, stage5_verdict, table
from cifar10_study.reporting.timing_report import seeded_section

N = 100  # test images per run; image i is of class i % 10
RESNET18, SE_RESNET18 = 11_173_962, 11_263_042


def write_runs(name: str, correct_first: dict[int, int], *, se: int | None = 16, mixup: float = 1.0,
               cutout: int = 16, params: int = SE_RESNET18, confidence: tuple[float, float] = (0.9, 0.6),
               train_on_validation: bool = False, timed: bool = True, profile: str = "full") -> None:
    """runs/<name>/seed_<s>/ as training writes them, one per seed: the run gets exactly the first k of
    the N test images right (test accuracy k / N), so any two runs' per-image agreement is known; it is
    `confidence[0]` sure of the images it gets right and `confidence[1]` of the others (so its ECE is
    (k |1 - c0| + (N - k) c1) / N: each group is one bin). train_on_validation: no validation values.
    timed=False: no timing.json, as in a run restored from a DVC cache or remote. `profile`: the one the runs
    record having trained at (the recipe itself stays a 2-epoch one)."""
    labels = np.arange(N) % 10
    for seed, k in correct_first.items():
        folder = f"runs/{name}/seed_{seed}"
        predicted = np.where(np.arange(N) < k, labels, (labels + 1) % 10)
        acc = k / N
        write_json(f"{folder}/results.json", {
            "test_accuracy": acc, "test_loss": 2 - acc,
            "final_val_accuracy": None if train_on_validation else acc - 0.02,
            "final_train_accuracy": acc + 0.02, "parameters": params, "flops_per_image": 1_113_000_000, "epochs": 2,
            "train_images": 50_000 if train_on_validation else 2000, "test_images": N})
        if timed:
            write_json(f"{folder}/timing.json", {
                "train_seconds": 100.0 + seed, "epoch_seconds": [50.0, 50.0], "images_per_second": 40.0 + seed,
                "steady_epoch_seconds": 50.0, "warmup_seconds": 0.0, "peak_memory_bytes": 2_000_000_000,
                "peak_memory_kind": "process_peak_rss",
                "provenance": {"hardware": "a test CPU", "git_commit": "abc", "git_dirty": False}})
        write_json(f"{folder}/info.json", {
            "run": f"{name}/seed_{seed}", "compiled": False, "per_class_test_accuracy": dict.fromkeys(CLASSES, acc),
            "compile": {"mode": "off", "graphs": 0}, "runtime": {"device": "auto"},
            "provenance": {"profile": profile, "seed": seed, "device": "cpu", "data_official": False,
                           "data_counts": {"train": 45_000, "val": 5_000, "test": 10_000}},
            "config": {"model": {"name": "resnet18", "se_reduction": se},
                       "train": {"epochs": 2, "batch_size": 128, "seed": seed, "mixup_alpha": mixup,
                                 "train_on_validation": train_on_validation,
                                 "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
                                 "schedule": {"name": "cosine"},
                                 "augment": {"crop_padding": 4, "flip": True, "cutout": cutout}}}})
        val = [None, None] if train_on_validation else [acc - 0.1, acc - 0.02]
        pd.DataFrame({"epoch": [1, 2], "train_acc": [acc - 0.1, acc + 0.05],
                      "val_acc": val}).to_csv(f"{folder}/history.csv", index=False)
        pd.DataFrame({"actual": [CLASSES[i] for i in labels], "predicted": [CLASSES[i] for i in predicted],
                      "confidence": np.where(np.arange(N) < k, *confidence)}).to_csv(f"{folder}/predictions.csv",
                                                                                      index=False)


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
    assert (s["parameters"], s["flops_per_image"], s["epochs"], s["train_images"], s["test_images"]) == \
        (SE_RESNET18, 1_113_000_000, 2, 2000, N)
    assert (s["peak_memory_bytes"], s["peak_memory_kind"], s["compiled"], s["compile"], s["runtime"]) == \
        (2_000_000_000, "process_peak_rss", False, {"mode": "off", "graphs": 0}, {"device": "auto"})
    # What all seeds share: provenance and recipe without the seed.
    assert s["provenance"] == {"profile": "full", "device": "cpu", "data_official": False,
                               "data_counts": {"train": 45_000, "val": 5_000, "test": 10_000},
                               "hardware": "a test CPU", "git_commit": "abc", "git_dirty": False}
    # Calibration from the predictions: k right at confidence 0.9 (gap 0.1), N - k wrong at 0.6 (gap 0.6):
    # ECE (0.1 k + 0.6 (N - k)) / N = 0.15, 0.145, 0.14; NLL is the recorded test loss.
    assert r.ece == pytest.approx({0: 0.15, 1: 0.145, 2: 0.14})
    assert s["test_ece"] == {"n": 3, "mean": pytest.approx(0.145), "std": pytest.approx(0.005)}
    assert s["test_nll"] == s["test_loss"]
    assert r.validated
    assert s["config"]["model"] == {"name": "resnet18", "se_reduction": 16}
    assert "seed" not in s["config"]["train"] and s["config"]["train"]["mixup_alpha"] == 1.0


def test_a_configurations_mean_record_and_history_are_its_seeds_means():
    r = runs("stage5", {0: 90, 1: 91, 2: 92})
    assert r.seeds == [0, 1, 2]
    record = r.mean_record()
    # Every summarised number is its mean over the seeds; the rest is the first seed's record.
    assert (record["test_accuracy"], record["test_accuracy_std"]) == (pytest.approx(0.91), pytest.approx(0.01))
    assert record["final_train_accuracy"] == pytest.approx(0.93) and record["train_seconds"] == pytest.approx(101.0)
    assert record["test_ece"] == pytest.approx(0.145) and record["seeds"] == [0, 1, 2]
    assert record["parameters"] == SE_RESNET18 and record["provenance"]["seed"] == 0
    assert r.per_seed[0]["test_accuracy"] == 0.90  # the seed's own record is left as it was
    history = r.mean_history()
    assert history["epoch"].tolist() == [1, 2]
    assert history["val_acc"].tolist() == pytest.approx([0.81, 0.89])  # (k / N - 0.1, k / N - 0.02), mean k 91
    assert history["epoch_seconds"].tolist() == pytest.approx([50.0, 50.0])
    one = runs("stage4", {0: 80}, se=None, mixup=0.0, cutout=0, params=RESNET18)
    assert one.mean_record()["test_accuracy_std"] is None and one.mean_record()["test_accuracy"] == 0.80
    # Without a validation split the mean has no validation accuracy either.
    assert runs("stage5_ablations/no_se", {0: 90, 1: 91}, train_on_validation=True).mean_record()[
        "final_val_accuracy"] is None


def test_runs_from_any_folders_are_one_configuration():
    """SeededRuns.from_runs: the Stage 1 experiments keep one folder per seed with every variant in it
    (runs/stage1_experiments/seed_<n>/<variant>/), read as the configuration stage1_experiments/<variant>."""
    write_runs("stage1_experiments_seed_2", {0: 70})
    write_runs("stage1_experiments_seed_0", {0: 74})
    r = SeededRuns.from_runs("stage1_experiments/softmax", {0: "stage1_experiments_seed_0/seed_0",
                                                           2: "stage1_experiments_seed_2/seed_0"})
    assert r.name == r.summary["run"] == "stage1_experiments/softmax" and r.seeds == [0, 2]
    assert r.accuracy == {0: 0.74, 2: 0.70} and r.summary["test_accuracy"]["mean"] == pytest.approx(0.72)
    np.testing.assert_array_equal(r.correct[2], np.arange(N) < 70)


def test_mean_val_curves_give_one_column_per_configuration_and_keep_one_without_validation():
    curves = mean_val_curves({"stage4": runs("stage4", {0: 80, 1: 82}), "stage5": runs("stage5", {0: 90}),
                              "trained on val": runs("x", {0: 90}, train_on_validation=True)})
    assert curves.index.name == "epoch" and curves.index.tolist() == [1, 2]
    assert curves["stage4"].tolist() == pytest.approx([0.71, 0.79]) and curves["stage5"].tolist() == pytest.approx(
        [0.80, 0.88])
    assert curves["trained on val"].isna().all()


def test_the_seeds_a_profile_trains_are_read_in_ascending_order():
    settings = SeedSettings(seeds={"seed_2": ["full"], "seed_10": ["full", "quick"], "seed_0": ["full", "quick"]})
    assert settings.trained("full") == [0, 2, 10] and settings.trained("quick") == [0, 10]
    assert settings.trained("smoke") == []


def test_compare_a_better_configuration_both_ways_round():
    better, worse = runs("stage5", {0: 90, 1: 91, 2: 92}), runs("stage4", {0: 80, 1: 81, 2: 82})
    c = compare(better, worse)
    assert (c["a"], c["b"], c["verdict"], c["basis"]) == ("stage5", "stage4", "better", "Welch t test across seeds")
    w = c["welch"]
    assert w["difference"] == pytest.approx(0.10)
    assert (w["ci_low"], w["ci_high"]) == pytest.approx((0.10 - HALF, 0.10 + HALF))
    assert w["df"] == pytest.approx(4.0)
    assert w["p_value"] == pytest.approx(sps.ttest_ind([0.90, 0.91, 0.92], [0.80, 0.81, 0.82], equal_var=False).pvalue)
    # Per seed, images 80+s .. 89+s are right for A only: 10 per seed, 30 pooled, none for B only.
    assert c["mcnemar"] == {"a_only": 30, "b_only": 0, "n": 300, "pairs": 3, "p_value": pytest.approx(2 / 2**30)}
    # The decisive test is Welch's; unadjusted until a family adjusts it; detectable (t(0.975, 4) + t(0.8, 4)) se.
    assert c["p_value"] == c["p_adjusted"] == w["p_value"] and c["a_ahead"] is True
    assert c["detectable"] == pytest.approx((2.7764451 + 0.9409646) * math.sqrt(2e-4 / 3))

    r = compare(worse, better)
    assert (r["a"], r["b"], r["verdict"]) == ("stage4", "stage5", "worse")
    assert r["welch"]["difference"] == pytest.approx(-0.10)
    assert (r["welch"]["ci_low"], r["welch"]["ci_high"]) == pytest.approx((-0.10 - HALF, -0.10 + HALF))
    assert r["welch"]["p_value"] == pytest.approx(w["p_value"])
    assert (r["mcnemar"]["a_only"], r["mcnemar"]["b_only"]) == (0, 30)


def test_one_significance_level_sets_the_interval_the_test_and_the_detectable_difference():
    better, worse = runs("stage5", {0: 90, 1: 91, 2: 92}), runs("stage4", {0: 80, 1: 81, 2: 82})
    c = compare(better, worse, alpha=0.01)
    # t(0.995, 4) = 4.6040949 instead of t(0.975, 4): a wider interval, still clear of 0.
    assert c["welch"]["ci_low"] == pytest.approx(0.10 - 4.6040949 * math.sqrt(2e-4 / 3))
    assert c["welch"]["confidence"] == pytest.approx(0.99) and c["alpha"] == 0.01
    assert c["detectable"] == pytest.approx((4.6040949 + 0.9409646) * math.sqrt(2e-4 / 3))
    assert c["verdict"] == "better"
    # p = 0.000255 for this pair: significant at 0.001, not at 0.0001; the interval agrees with the verdict.
    assert compare(better, worse, alpha=0.001)["verdict"] == "better"
    strict = compare(better, worse, alpha=0.0001)
    assert strict["verdict"] == "no significant difference" and strict["welch"]["ci_low"] < 0


def test_compare_no_difference_both_ways_round():
    a, b = runs("a", {0: 90, 1: 91, 2: 92}), runs("b", {0: 89, 1: 92, 2: 90})
    # mean 0.91 against 0.90333: +0.00667; the interval (about +-0.031) straddles 0.
    for x, y, sign in ((a, b, 1), (b, a, -1)):
        c = compare(x, y)
        assert c["verdict"] == "no significant difference" and c["basis"] == "Welch t test across seeds"
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


def test_a_comparison_row_states_a_minus_b_its_interval_test_p_values_and_counts():
    c = compare(runs("stage5", {0: 90, 1: 91, 2: 92}), runs("stage4", {0: 80, 1: 81, 2: 82}))
    # Welch p for +0.10 with se 0.0081650 on 4 df: t = 12.247, p = 2.55e-04; detectable 3.04 points (see above).
    assert comparison_row("stage5 vs stage4", c, "95%") == {
        "comparison (A vs B)": "stage5 vs stage4", "A - B (points)": "+10.00", "95% CI (points)": "[+7.73, +12.27]",
        "test": "Welch", "p": "0.000255", "Holm p": "(primary)", "detectable (points)": "3.04",
        "images only A / only B gets right": "30 / 0", "A is": "better"}
    r = compare(runs("one", {0: 80}), runs("other", {0: 90}))
    # McNemar: 0 / 10 discordant, p = 2 / 2^10; detectable on images (1.959964 + 0.841621) sqrt(10) / 100 = 8.86.
    assert comparison_row("one vs other", {**r, "p_adjusted": 0.0039}, "90%") == {
        "comparison (A vs B)": "one vs other", "A - B (points)": "-10.00", "90% CI (points)": "n/a (one seed each)",
        "test": "McNemar", "p": "0.00195", "Holm p": "0.0039", "detectable (points)": "8.86",
        "images only A / only B gets right": "0 / 10", "A is": "worse"}


def test_holm_adjusts_a_family_together_and_can_undo_a_raw_verdict():
    a, b, c = runs("a", {0: 90, 1: 91, 2: 92}), runs("b", {0: 80, 1: 81, 2: 82}), runs("c", {0: 88, 1: 89, 2: 91})
    # raw p: a vs b 2.55e-04 (as above); a vs c +1.67 points, c vs b +8.33 points, each with se
    # sqrt((1e-4 + 2.333e-4) / 3) = 0.010541 on 3.448 df: p 0.200 and 0.00251. Holm, 3 tests, smallest first:
    # 2.55e-04 x 3 = 7.66e-04, 0.00251 x 2 = 0.00502, 0.200 x 1 = 0.200.
    family = holm_adjusted({"a vs b": compare(a, b), "a vs c": compare(a, c), "c vs b": compare(c, b)})
    assert {label: f["p_value"] for label, f in family.items()} == pytest.approx(
        {"a vs b": 2.5522e-4, "a vs c": 0.20017, "c vs b": 0.0025104}, rel=1e-4)
    assert {label: f["p_adjusted"] for label, f in family.items()} == pytest.approx(
        {"a vs b": 7.6565e-4, "a vs c": 0.20017, "c vs b": 0.0050207}, rel=1e-4)
    assert [f["verdict"] for f in family.values()] == ["better", "no significant difference", "better"]
    # At alpha 0.004 the raw p of c vs b (0.00251) passes, the adjusted one (0.00502) does not.
    strict = holm_adjusted({"a vs b": compare(a, b, alpha=0.004), "a vs c": compare(a, c, alpha=0.004),
                            "c vs b": compare(c, b, alpha=0.004)})
    assert strict["c vs b"]["verdict"] == "no significant difference"
    assert compare(c, b, alpha=0.004)["verdict"] == "better"


def test_calibration_is_compared_across_seeds_lower_is_better():
    # Stage 5 more sure of what it gets right (0.95) and less of what it gets wrong (0.3) than Stage 4.
    good = runs("stage5", {0: 90, 1: 91, 2: 92}, confidence=(0.95, 0.3))
    poor = runs("stage4", {0: 90, 1: 91, 2: 92}, confidence=(0.9, 0.6))
    # ECE per seed (0.05 k + 0.3 (N - k)) / N: 0.075, 0.0725, 0.07 against 0.15, 0.145, 0.14: -0.0725 mean
    c = compare_calibration(good, poor)
    assert (c["a"], c["b"], c["alpha"]) == ("stage5", "stage4", 0.05)
    assert c["welch"]["difference"] == pytest.approx(-0.0725)
    assert c["verdict"] == "lower"
    # ECE = c1 + (k / N)(1 - c0 - c1): (0.95, 0.3) gives 0.3 - 0.25 k / N, (0.85, 0.4) 0.4 - 0.25 k / N, so both
    # spread 0.0025 (sample std) over k = 90..92: se = sqrt(2 * 0.0025^2 / 3), df 4, difference -0.10. At alpha
    # 0.01 the interval is +- t(0.995, 4) se and the detectable difference (t(0.995, 4) + t(0.8, 4)) se.
    even = runs("stage4_even", {0: 90, 1: 91, 2: 92}, confidence=(0.85, 0.4))
    strict = compare_calibration(good, even, alpha=0.01)
    se = math.sqrt(2 * 0.0025**2 / 3)
    assert strict["welch"]["difference"] == pytest.approx(-0.10)
    assert strict["welch"]["ci_high"] == pytest.approx(-0.10 + 4.6040949 * se)
    assert strict["detectable"] == pytest.approx((4.6040949 + 0.9409646) * se) and strict["alpha"] == 0.01
    assert compare_calibration(poor, good)["verdict"] == "higher"
    assert compare_calibration(poor, poor)["verdict"] == "no significant difference"
    one = compare_calibration(runs("x", {0: 90}), runs("y", {0: 80}))
    assert one["verdict"] is None and one["detectable"] is None


@pytest.fixture
def drawn(monkeypatch):
    """The validation-curve figure Stage 5's figures draw (reporting.figures.stage45), recorded instead of
    drawn: (curves, path, title) per call; the reliability diagrams' calls go to drawn.reliability,
    (bins, reference, path, title)."""
    class Calls(list):
        reliability: list

    calls = Calls()
    calls.reliability = []
    monkeypatch.setattr(figures.plots, "epoch_curves", lambda *args: calls.append(args))
    monkeypatch.setattr(figures.plots, "reliability", lambda *args: calls.reliability.append(args))
    return calls


def stage5_study(stage4: dict, stage5: dict, no_se: dict, no_mixup: dict, no_cutout: dict,
                 statistics: StatisticsConfig = StatisticsConfig(), profile: str = "full",
                 **stage5_recipe) -> Stage5Results:
    """Stage 4, Stage 5 and its three ablations, each given as {seed: images right}, trained at `profile` and
    compared at `statistics`; stage5_recipe: runs() arguments for Stage 5 alone."""
    return Stage5Results.of(runs("stage4", stage4, se=None, mixup=0.0, cutout=0, params=RESNET18, profile=profile),
                            runs("stage5", stage5, profile=profile, **stage5_recipe),
                            {"no_se": runs("stage5_ablations/no_se", no_se, se=None, params=RESNET18, profile=profile),
                             "no_mixup": runs("stage5_ablations/no_mixup", no_mixup, mixup=0.0, profile=profile),
                             "no_cutout": runs("stage5_ablations/no_cutout", no_cutout, cutout=0, profile=profile)},
                            statistics)


# Three seeds. Stage 5 beats Stage 4 by 10 points, the SE ablation beats Stage 5 by 5 (SE hurts), the
# MixUp ablation is 10 below (MixUp helps), the Cutout ablation is within noise (+0.67, interval [-2.45, +3.79]).
# Every interval is 100 x (difference +- t(0.975, df) x se) as in HALF (+-2.27 points) where both sides have
# std 0.01; with the Cutout ablation's std 0.01528, df = 3.448 and the half-width is 3.11 points.
# Welch p: +-10 points -> t = 12.25 on 4 df, p 2.55e-04; +15 -> 5.17e-05; +-5 -> 0.0036; +9.33 (3.448 df)
# -> 0.00172; +0.67 -> 0.567. Holm over the 6 ablation comparisons, smallest first: 5.17e-05 x 6 = 3.1e-04,
# 2.55e-04 x 5 = 0.00128, 0.00172 x 4 = 0.0069, 0.0036 x 3 = 0.0108, 0.567 x 2 -> 1, 1.
# Detectable: (t(0.975, 4) + t(0.8, 4)) x 0.0081650 = 3.04 points; on 3.448 df with se 0.010541, 4.13.
# ECE: k of 100 right at confidence 0.9, the rest at 0.6 -> (0.1 k + 0.6 (100 - k)) / 100 = 0.6 - 0.005 k:
# Stage 4 19.5% (k 80..82), Stage 5 14.5%; Welch on those is Welch on accuracy x 0.5 (same p).
SECTION = """\
## Stage 5: SE-ResNet-18 + MixUp + Cutout

Stage 4's ResNet-18 and recipe with squeeze-and-excitation in every block (reduction 16), MixUp and Cutout; \
11,263,042 parameters (+89,080 for SE). Recipe: SGD lr 0.1, momentum 0.9, weight decay 0.0005, batch 128, cosine \
schedule over 2 epochs; augmentation: random crop (pad 4), horizontal flip, Cutout 16px, MixUp alpha 1. Each \
ablation turns one component off. Same seeds as Stage 4 (0, 1, 2); each run trains on the first 2,000 of the \
45,000 images of the training split; the 5,000-image validation split is held out for the curves (nothing is \
chosen on it).

| configuration        | SE    | MixUp   | Cutout   | params     | train acc                 | \
test acc                  | test ECE                  | test NLL   |
|:---------------------|:------|:--------|:---------|:-----------|:--------------------------|\
:--------------------------|:--------------------------|:-----------|
| stage4 (ResNet-18)   | False | False   | False    | 11,173,962 | 83.00% +- 1.00% (3 seeds) | \
81.00% +- 1.00% (3 seeds) | 19.50% +- 0.50% (3 seeds) | 1.190      |
| stage5 (all on)      | True  | True    | True     | 11,263,042 | 93.00% +- 1.00% (3 seeds) | \
91.00% +- 1.00% (3 seeds) | 14.50% +- 0.50% (3 seeds) | 1.090      |
| no_se (ablation)     | False | True    | True     | 11,173,962 | 98.00% +- 1.00% (3 seeds) | \
96.00% +- 1.00% (3 seeds) | 12.00% +- 0.50% (3 seeds) | 1.040      |
| no_mixup (ablation)  | True  | False   | True     | 11,263,042 | 83.00% +- 1.00% (3 seeds) | \
81.00% +- 1.00% (3 seeds) | 19.50% +- 0.50% (3 seeds) | 1.190      |
| no_cutout (ablation) | True  | True    | False    | 11,263,042 | 92.33% +- 1.53% (3 seeds) | \
90.33% +- 1.53% (3 seeds) | 14.83% +- 0.76% (3 seeds) | 1.097      |

| comparison (A vs B)   | A - B (points)   | 95% CI (points)   | test   | p        | Holm p    | \
detectable (points)   | images only A / only B gets right   | A is                      |
|:----------------------|:-----------------|:------------------|:-------|:---------|:----------|\
:----------------------|:------------------------------------|:--------------------------|
| stage5 vs stage4      | +10.00           | [+7.73, +12.27]   | Welch  | 0.000255 | (primary) | \
3.04                  | 30 / 0                              | better                    |
| no_se vs stage4       | +15.00           | [+12.73, +17.27]  | Welch  | 5.17e-05 | 0.00031   | \
3.04                  | 45 / 0                              | better                    |
| no_mixup vs stage4    | +0.00            | [-2.27, +2.27]    | Welch  | 1        | 1         | \
3.04                  | 0 / 0                               | no significant difference |
| no_cutout vs stage4   | +9.33            | [+6.21, +12.45]   | Welch  | 0.00172  | 0.0069    | \
4.13                  | 28 / 0                              | better                    |
| stage5 vs no_se       | -5.00            | [-7.27, -2.73]    | Welch  | 0.0036   | 0.0108    | \
3.04                  | 0 / 15                              | worse                     |
| stage5 vs no_mixup    | +10.00           | [+7.73, +12.27]   | Welch  | 0.000255 | 0.00128   | \
3.04                  | 30 / 0                              | better                    |
| stage5 vs no_cutout   | +0.67            | [-2.45, +3.79]    | Welch  | 0.567    | 1         | \
4.13                  | 3 / 1                               | no significant difference |

**Primary test**, Stage 5 against Stage 4: +10.00 points, **better** (Welch t test across seeds, p 0.000255 at \
alpha 0.05): Stage 5 beats the Stage 4 reproduction, across 3 seeds.

Ablations (the other 6 comparisons, one family: verdicts on Holm-adjusted p values):
- se: hurts (the ablation beats the full model); -5.00 points for the full model (Welch t test across seeds, Holm \
p 0.0108).
- mixup: helps (the full model beats the ablation); +10.00 points for the full model (Welch t test across seeds, \
Holm p 0.00128).
- cutout: has no significant effect; +0.67 points for the full model (Welch t test across seeds, Holm p 1); with \
this design only a difference of about 4.13 points or more across seeds would be found with probability 0.8.

How to read this: one significance level, alpha = 0.05, drives every interval (95%) and test. Welch's t test \
compares mean test accuracy over seeds (it needs at least two seeds per configuration, with some spread); \
McNemar's exact test compares two configurations image by image on the same test images, pooled over matched seeds \
(seeds share the test images, so pooling overstates independence). A verdict rests on Welch's test when it has a \
variance, else on McNemar's. The primary test is Stage 5 against Stage 4, unadjusted; the ablation comparisons are \
one family of 6, their p values Holm-adjusted (the Holm p column; their intervals are not adjusted). "Detectable" \
is the smallest true difference the design would find with probability 0.8 at alpha 0.05 (before the Holm \
adjustment, which raises it): across seeds from the observed seed spread and the number of seeds, or, with one \
seed, between the two trained models on these images. Training accuracy under MixUp is measured against each mixed \
image's dominant label.

![Stages 4 and 5](figures/stage5_ablations.png)

### Calibration

Expected calibration error (ECE, 15 equal-width confidence bins) of each configuration's test predictions against \
Stage 4's, with the statistics accuracy gets across seeds (MixUp is known to give better-calibrated models: \
Thulasidasan et al., 2019):

- stage5 vs stage4: ECE 14.50% +- 0.50% (3 seeds) against 19.50% +- 0.50% (3 seeds), -5.00 points, 95% CI [-6.13, \
-3.87], Welch p 0.000255: **lower** calibration error than Stage 4; detectable across seeds: about 1.52 points.
- no_se vs stage4: ECE 12.00% +- 0.50% (3 seeds) against 19.50% +- 0.50% (3 seeds), -7.50 points, 95% CI [-8.63, \
-6.37], Welch p 5.17e-05: **lower** calibration error than Stage 4; detectable across seeds: about 1.52 points.
- no_mixup vs stage4: ECE 19.50% +- 0.50% (3 seeds) against 19.50% +- 0.50% (3 seeds), +0.00 points, 95% CI \
[-1.13, +1.13], Welch p 1: **no significant difference** in calibration error; detectable across seeds: about 1.52 \
points.
- no_cutout vs stage4: ECE 14.83% +- 0.76% (3 seeds) against 19.50% +- 0.50% (3 seeds), -4.67 points, 95% CI \
[-6.23, -3.11], Welch p 0.00172: **lower** calibration error than Stage 4; detectable across seeds: about 2.07 \
points.

![Reliability diagrams](figures/stage45_reliability.png)
"""


def test_the_stage5_section_states_each_verdict_across_seeds(drawn):
    results = stage5_study({0: 80, 1: 81, 2: 82}, {0: 90, 1: 91, 2: 92}, {0: 95, 1: 96, 2: 97},
                           {0: 80, 1: 81, 2: 82}, {0: 89, 1: 92, 2: 90})
    assert "\n".join(stage5_section(results)) == SECTION
    figures.stage45(results)
    [(curves, path, title)] = drawn
    assert str(path) == "reports/figures/stage5_ablations.png"
    assert title == "Stages 4 and 5, mean validation accuracy over seeds (full profile)"
    # Mean validation accuracy over the seeds, per epoch: (k / N - 0.1, k / N - 0.02) averaged over k.
    expected = pd.DataFrame({"stage4": [0.71, 0.79], "stage5": [0.81, 0.89], "no_se": [0.86, 0.94],
                             "no_mixup": [0.71, 0.79], "no_cutout": [0.71 + 0.28 / 3, 0.79 + 0.28 / 3]},
                            index=pd.Index([1, 2], name="epoch"))
    pd.testing.assert_frame_equal(curves, expected)
    # Reliability pooled over seeds: Stage 4 gets 80 + 81 + 82 = 243 of 300 right, all at 0.9 (bin 13), and
    # 57 wrong at 0.6 (bin 8: a confidence on the edge 9/15 belongs to the lower bin).
    [(bins, reference, path, title)] = drawn.reliability
    assert (reference, str(path)) == ("stage4", "reports/figures/stage45_reliability.png")
    assert title == "Reliability of the test predictions, pooled over seeds (full profile)"
    stage4_bins = bins[bins["configuration"] == "stage4"]
    assert stage4_bins[["bin", "images"]].values.tolist() == [[8, 57], [13, 243]]
    assert stage4_bins[["accuracy", "confidence"]].to_numpy() == pytest.approx(np.array([[0.0, 0.6], [1.0, 0.9]]))
    assert sorted(bins["configuration"].unique()) == ["no_cutout", "no_mixup", "no_se", "stage4", "stage5"]


def test_runs_trained_on_the_validation_split_have_no_curves_and_the_report_says_what_they_trained_on(drawn):
    flags = {"train_on_validation": True}
    stage4 = runs("stage4", {0: 80, 1: 81, 2: 82}, se=None, mixup=0.0, cutout=0, params=RESNET18, **flags)
    stage5 = runs("stage5", {0: 90, 1: 91, 2: 92}, **flags)
    ablations = {"no_se": runs("stage5_ablations/no_se", {0: 95, 1: 96, 2: 97}, se=None, params=RESNET18, **flags)}
    assert not stage4.validated and stage4.summary["final_val_accuracy"] is None
    results = Stage5Results.of(stage4, stage5, ablations)
    lines = stage5_section(results)
    everything = ("all 50,000 training images (the training and validation splits together, as the published recipe "
                  "does; never a test image), so there is no validation curve")
    assert lines[2].endswith(f"Same seeds as Stage 4 (0, 1, 2); each run trains on {everything}.")
    assert f"No validation curves: every Stage 4/5 run trained on its validation split (each trains on {everything})." \
        in lines
    figures.stage45(results)
    assert drawn == [] and len(drawn.reliability) == 1  # no curve figure; the reliability diagrams still


def test_a_worse_stage5_is_never_called_better(drawn):
    # Stage 4 and Stage 5 swapped: Stage 5 is 10 points below, across seeds.
    results = stage5_study({0: 90, 1: 91, 2: 92}, {0: 80, 1: 81, 2: 82}, {0: 95, 1: 96, 2: 97},
                           {0: 80, 1: 81, 2: 82}, {0: 89, 1: 92, 2: 90})
    lines = stage5_section(results)
    assert ("**Primary test**, Stage 5 against Stage 4: -10.00 points, **worse** (Welch t test across seeds, "
            "p 0.000255 at alpha 0.05): the data do not support the claim that Stage 5 beats the Stage 4 "
            "reproduction.") in lines
    assert "| stage5 vs stage4      | -10.00           | [-12.27, -7.73]   | Welch  | 0.000255 | (primary) |" \
        in "\n".join(lines)


def test_a_stage5_within_noise_reads_as_no_difference_with_what_the_design_could_detect_at_the_given_alpha(drawn):
    # Stage 5 one point above Stage 4 on every seed (81..83 against 80..82 right of 100), both with std 1 point:
    # se = sqrt(2/3) = 0.8165 points, t = 1.2247 on 4 df, p 0.288. At alpha 0.1 the interval is 90%: half-width
    # t(0.95, 4) x se = 2.131847 x 0.8165 = 1.74 points; detectable (2.131847 + 0.940965) x 0.8165 = 2.51 points.
    # ECE is 0.6 - 0.005 k (see above): -0.50 points, every figure half the accuracy's (p the same).
    # Stage 5's Cutout is 1 pixel: the table still says Cutout is on.
    results = stage5_study({0: 80, 1: 81, 2: 82}, {0: 81, 1: 82, 2: 83}, {0: 95, 1: 96, 2: 97},
                             {0: 80, 1: 81, 2: 82}, {0: 89, 1: 92, 2: 90},
                             StatisticsConfig(alpha=0.1, power=0.8), cutout=1)
    lines = stage5_section(results)
    assert ("**Primary test**, Stage 5 against Stage 4: +1.00 points, **no significant difference** (Welch t test "
            "across seeds, p 0.288 at alpha 0.1): the data do not support the claim that Stage 5 beats the Stage 4 "
            "reproduction; with this design only a difference of about 2.51 points or more across seeds would be found "
            "with probability 0.8.") in lines
    table = "\n".join(lines)
    assert "| 90% CI (points)   |" in table
    assert "| stage5 vs stage4      | +1.00            | [-0.74, +2.74]    | Welch  | 0.288    | (primary) | 2.51 " \
        in table
    [stage5_row] = [line for line in lines[4].splitlines() if line.startswith("| stage5 (all on)")]
    assert [cell.strip() for cell in stage5_row.split("|")[2:5]] == ["True", "True", "True"]  # SE, MixUp, Cutout
    assert ("- stage5 vs stage4: ECE 19.00% +- 0.50% (3 seeds) against 19.50% +- 0.50% (3 seeds), -0.50 points, 90% CI "
            "[-1.37, +0.37], Welch p 0.288: **no significant difference** in calibration error; detectable across "
            "seeds: about 1.25 points.") in lines


def test_with_one_seed_the_verdicts_speak_of_trained_models_not_of_components(drawn):
    # One seed: no Welch interval, McNemar decides. Stage 5 is right on 10 more images than Stage 4 (p = 2 / 2^10);
    # the SE ablation on 10 more than Stage 5; the MixUp ablation on 10 fewer; the Cutout ablation on 1 fewer (p = 1).
    results = stage5_study({0: 80}, {0: 90}, {0: 100}, {0: 80}, {0: 89})
    lines = stage5_section(results)
    mcnemar = "McNemar (exact, pooled over matched seeds)"
    caveat = "one seed each: a difference between trained models, not yet a component effect"
    assert (f"**Primary test**, Stage 5 against Stage 4: +10.00 points, **better** ({mcnemar}, p 0.00195 at alpha "
            f"0.05): Stage 5's trained models beat Stage 4's "
            f"on these test images, but without a Welch interval (one seed each) seed-to-seed variation is not "
            f"accounted for, so this does not establish that the Stage 5 recipe is better (more seeds, as in the full "
            f"profile, would).") in lines
    # Holm over the six McNemar p values (see the table test): the SE and MixUp comparisons 0.00195 -> 0.00977.
    # Detectable on 100 images: (1.959964 + 0.841621) sqrt(discordant) / 100 -> 1 discordant image: 2.80 points.
    ablation_lines = [line for line in lines if line.startswith("- ")]
    assert ablation_lines[:3] == [
        f"- se: the ablation without it scored higher than the full model ({caveat}); -10.00 points for the full "
        f"model ({mcnemar}, Holm p 0.00977).",
        f"- mixup: the full model scored higher than the ablation without it ({caveat}); +10.00 points for the full "
        f"model ({mcnemar}, Holm p 0.00977).",
        f"- cutout: no significant difference between the two models ({caveat}); +1.00 points for the full model "
        f"({mcnemar}, Holm p 1); with this design only a difference of about 2.80 points or more between these two "
        f"trained models on these test images would be found with probability 0.8.",
    ]
    assert "| stage5 vs stage4      | +10.00           | n/a (one seed each) | McNemar | 0.00195  | (primary) | 8.86 " \
        in "\n".join(lines)
    assert "Same seeds as Stage 4 (0);" in lines[2]
    # One seed: calibration has no interval and no verdict. ECE 0.6 - 0.005 k: 15% for Stage 5, 20% for Stage 4.
    assert ablation_lines[3] == ("- stage5 vs stage4: ECE 15.00% (1 seed) against 20.00% (1 seed), -5.00 points; no "
                                 "interval (one seed each): ECE has no per-image test, so no verdict.")


def test_seeds_without_spread_give_no_interval_and_say_why(drawn):
    # Two seeds, each configuration equally good on both: zero variance, so McNemar decides (20 / 0 images).
    results = stage5_study({0: 80, 1: 80}, {0: 90, 1: 90}, {0: 90, 1: 90}, {0: 80, 1: 80}, {0: 90, 1: 90})
    lines = stage5_section(results)
    assert any(line.startswith("**Primary test**, Stage 5 against Stage 4: +10.00 points, **better** (McNemar") and
               "without a Welch interval (no spread across seeds)" in line for line in lines)
    assert "| stage5 vs stage4      | +10.00           | n/a (no spread across seeds) |" in "\n".join(lines)
    assert ("- se: no significant difference between the two models (no spread across seeds: a difference between "
            "trained models, not yet a component effect); +0.00 points for the full model (McNemar (exact, pooled "
            "over matched seeds), Holm p 1); the design gives no estimate of the difference it could detect.") in lines


def test_runs_restored_without_their_timing_file_are_reported_with_timings_not_recorded(monkeypatch):
    restored = runs("stage4", {0: 80, 1: 81}, se=None, mixup=0.0, cutout=0, params=RESNET18, timed=False)
    s = restored.summary
    assert s["train_seconds"] is None and s["peak_memory_bytes"] is None and s["provenance"]["hardware"] is None
    assert restored.histories[0]["epoch_seconds"].isna().all()
    lines = seeded_section("Stage 4: ResNet-18", restored)
    assert any(line.startswith("Training time not recorded: at least one of these runs was restored from a DVC "
                               "cache or remote, which keeps no timings (cpu; eager, not compiled).") for line in lines)
    assert "| not recorded |" in "\n".join(lines).replace("| not recorded   |", "| not recorded |")
    timed = runs("stage4", {0: 80, 1: 81}, se=None, mixup=0.0, cutout=0, params=RESNET18)
    # means over seeds 0 and 1: 100.5 s (100 printed), 50.25 s per epoch, 40.5 images/s (40 printed)
    assert any(line.startswith("Training took 100 s per run (50.2 s per epoch; 40 images/s after the first epoch's "
                               "warm-up; evaluation excluded) on a test CPU (cpu; eager, not compiled).")
               for line in seeded_section("Stage 4: ResNet-18", timed))
    # The report's section holds none of it: it links to timing.md, whose numbers an identical rerun changes.
    section = "\n".join(stage4_section(timed))
    assert "Training took" not in section and "epoch time" not in section and TIMING_LINK in section


def test_runs_whose_predictions_have_no_confidence_say_to_rerun_them():
    write_runs("stage4", {0: 80})
    path = "runs/stage4/seed_0/predictions.csv"
    pd.read_csv(path).drop(columns="confidence").to_csv(path, index=False)  # as written before calibration
    with pytest.raises(StudyError, match=r"^runs/stage4/seed_0/predictions.csv: no confidence column \(written by an "
                                         r"older version\); rerun the stage \(dvc repro -f\) to measure calibration$"):
        SeededRuns.load("stage4", [0])


# --- Stages 4-5 at a profile that only checks the pipeline: the numbers, never a verdict ---------------------

ACROSS_SEEDS = ({0: 80, 1: 81, 2: 82}, {0: 90, 1: 91, 2: 92}, {0: 95, 1: 96, 2: 97}, {0: 80, 1: 81, 2: 82},
                {0: 89, 1: 92, 2: 90})  # as SECTION: Stage 5 10 points above Stage 4 across seeds (p 0.000255)


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_at_a_pipeline_check_profile_every_comparison_keeps_its_numbers_and_no_verdict(profile):
    checked, real = stage5_study(*ACROSS_SEEDS, profile=profile), stage5_study(*ACROSS_SEEDS, profile="full")
    withheld = f"n/a ({profile}: pipeline check)"
    assert checked.is_pipeline_check and not real.is_pipeline_check
    for tests in ("tests", "calibration"):
        ours, theirs = getattr(checked, tests), getattr(real, tests)
        assert [c["verdict"] for c in ours.values()] == [withheld] * len(theirs)
        assert {label: {k: v for k, v in c.items() if k != "verdict"} for label, c in ours.items()} == \
            {label: {k: v for k, v in c.items() if k != "verdict"} for label, c in theirs.items()}
    assert real.primary["verdict"] == "better"


@pytest.mark.parametrize("profile", ["full", "preview"])
def test_a_profile_that_trains_the_recipe_gives_verdicts(profile):
    r = stage5_study(*ACROSS_SEEDS, profile=profile)
    assert [c["verdict"] for c in r.tests.values()] == [
        "better", "better", "no significant difference", "better", "worse", "better", "no significant difference"]
    assert stage5_verdict(r) == "better than Stage 4 (Welch p 0.00026)"
    assert stage4_verdict(r.stage4) == "does not reach the 93.00% target"  # 81% mean


def test_the_stage5_section_at_the_quick_profile_states_the_numbers_and_no_verdict(drawn):
    r = stage5_study(*ACROSS_SEEDS, profile="quick")
    lines = stage5_section(r)
    text = "\n".join(lines)
    withheld = "n/a (quick: pipeline check)"
    assert lines[4] == ("At the `quick` profile Stages 4-5 are a pipeline check (2 epoch(s) on 2,000 images): every "
                        "statistic below is computed and shown, and no verdict or ranking is drawn from them.")
    assert ("**Primary test**, Stage 5 against Stage 4: +10.00 points, **n/a (quick: pipeline check)** (Welch t test "
            "across seeds, p 0.000255 at alpha 0.05): the test is computed and shown, but at this profile Stages 4-5 "
            "only check the pipeline (too few epochs and images to compare recipes), so it decides nothing about "
            "Stage 5 against Stage 4.") in lines
    rows = [line for line in text.splitlines() if line.startswith("| stage5 vs ") or " vs stage4 " in line[:25]]
    assert len(rows) == 7 and all(row.rstrip(" |").endswith(withheld) for row in rows)
    assert "| stage5 vs stage4      | +10.00           | [+7.73, +12.27]   | Welch  | 0.000255 | (primary) |" in text
    assert "Ablations (the other 6 comparisons, one family: Holm-adjusted p values, no verdict at this profile):" \
        in lines
    assert f"- se: {withheld}; -5.00 points for the full model (Welch t test across seeds, Holm p 0.0108)." in lines
    assert ("- stage5 vs stage4: ECE 14.50% +- 0.50% (3 seeds) against 19.50% +- 0.50% (3 seeds), -5.00 points, 95% "
            f"CI [-6.13, -3.87], Welch p 0.000255: {withheld}.") in lines
    for verdict_word in ("**better**", "**worse**", "**lower**", "helps", "hurts", "no significant effect",
                         "scored higher", "beats the Stage 4"):
        assert verdict_word not in text, verdict_word


def test_with_one_seed_at_the_quick_profile_calibration_says_why_it_has_no_interval_and_no_verdict(drawn):
    r = stage5_study({0: 80}, {0: 90}, {0: 100}, {0: 80}, {0: 89}, profile="quick")
    assert ("- stage5 vs stage4: ECE 15.00% (1 seed) against 20.00% (1 seed), -5.00 points; no interval (one seed "
            "each): n/a (quick: pipeline check).") in stage5_section(r)
    assert stage5_verdict(r) == "n/a (quick: pipeline check)"


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_the_stage4_section_and_the_summary_hold_a_pipeline_check_against_no_target(profile):
    stage4 = runs("stage4", {0: 80, 1: 81, 2: 82}, se=None, mixup=0.0, cutout=0, params=RESNET18, profile=profile)
    lines = stage4_section(stage4)
    assert any(line.startswith("Mean test accuracy 81.00% is a pipeline check, held against neither the 93.00% "
                               "target nor the published ~95.30%. Caveats: ") for line in lines)
    assert f"| this run ({profile} profile: pipeline check)" in "\n".join(lines)
    assert not [line for line in lines if "reach" in line]
    assert stage4_verdict(stage4) == f"n/a ({profile}: pipeline check)"


def test_the_stage4_section_at_the_full_profile_holds_the_runs_against_the_target():
    stage4 = runs("stage4", {0: 94, 1: 94, 2: 95}, se=None, mixup=0.0, cutout=0, params=RESNET18)
    assert any(line.startswith("Mean test accuracy 94.33% reaches the 93.00% target and is 0.97 points below the "
                               "published ~95.30%.") for line in stage4_section(stage4))
    assert stage4_verdict(stage4) == "reaches the 93.00% target"


@pytest.mark.parametrize("profile, verdict", [("quick", "n/a (quick: pipeline check)"),
                                              ("preview", "better than Stage 4 (Welch p 0.00026)")])
def test_the_summary_table_has_the_stage5_verdict_only_where_the_recipe_was_trained(profile, verdict):
    r = stage5_study(*ACROSS_SEEDS, profile=profile)
    results = [StageResult("1", "baseline CNN", r.stage4.summary, {}),
               StageResult("5", "SE-ResNet-18 + MixUp + Cutout", r.full.summary, {}, stage5_verdict(r))]
    assert table(results)["verdict"].tolist() == ["", verdict]


def test_the_metrics_file_keeps_the_statistics_and_withholds_the_verdicts_at_a_pipeline_check():
    stage5_study(*ACROSS_SEEDS, profile="smoke")
    seeds = {f"seed_{s}": ["smoke"] for s in (0, 1, 2)}
    write_outputs(Stage45AnalysisParams(profile="smoke", stage4=SeedSettings(seeds=seeds)))
    written = read_json("metrics/stage5.json")
    primary = written["comparisons"]["stage5 vs stage4"]
    assert primary["verdict"] == "n/a (smoke: pipeline check)" and primary["p"] == pytest.approx(2.5522e-4, rel=1e-4)
    assert primary["difference"] == pytest.approx(0.10) and primary["ci_low"] == pytest.approx(0.10 - HALF)
    assert {c["verdict"] for c in [*written["comparisons"].values(), *written["calibration"].values()]} == \
        {"n/a (smoke: pipeline check)"}


def test_the_report_header_says_when_stages_4_and_5_are_a_pipeline_check():
    def header_at(profile: str) -> str:
        baseline = {"provenance": {"profile": profile, "data_official": True, "data_counts": {}, "hardware": "a CPU",
                                   "device": "cpu", "torch_version": "2"},
                    "config": {"train": {"epochs": 1, "train_subset": None}}, "seeds": [0, 1, 2]}
        return header(SimpleNamespace(baseline=baseline, code={"git_commit": None}))

    note = "- **Stages 4-5 are a pipeline check** at the `quick` profile: their statistics are computed and shown"
    assert note in header_at("quick") and "pipeline check" not in header_at("full")


def test_the_stage5_section_says_se_is_off_when_the_full_model_runs_without_it():
    results = stage5_study({0: 80, 1: 81, 2: 82}, {0: 90, 1: 91, 2: 92}, {0: 95, 1: 96, 2: 97},
                           {0: 80, 1: 81, 2: 82}, {0: 89, 1: 92, 2: 90}, se=None)
    assert "squeeze-and-excitation in every block (reduction off), MixUp and Cutout" in "\n".join(
        stage5_section(results))


def test_a_comparison_without_a_detectable_difference_says_n_a():
    from cifar10_study.reporting.comparison_wording import _points

    assert _points(None) == "n/a" and _points(0.0123) == "1.23"
