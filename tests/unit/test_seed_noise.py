"""A configuration against its reference, judged against the seed-noise floor (analysis/seed_noise.py): the
difference of mean test accuracy over seeds, the floor from the seeds' spread (Welch's t test, or one run against the
prediction interval of the reference's seeds), and McNemar's p on the images of the seeds both trained, shown beside
it as test-image sampling only: it never makes a difference an effect. Then the Stage 1-3 analyses that read each
configuration over its seeds from the runs' files and write these comparisons to the metrics files."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cifar10_study.analysis import stage1_results, stage2_results
from cifar10_study.analysis.comparisons import SUMMARISED, SeededRuns
from cifar10_study.analysis.seed_noise import Difference
from cifar10_study.analysis.stage1_results import Stage1AnalysisParams
from cifar10_study.analysis.stage3_results import Stage3AnalysisParams, against_full, stage3_runs
from cifar10_study.analysis.stage3_results import write_outputs as stage3_write_outputs
from cifar10_study.analysis.stats import (
    NO_SEED_SPREAD,
    PREDICTION_BASIS,
    WELCH_BASIS,
    pooled_mcnemar,
    prediction_interval,
    seed_noise_test,
    summarize,
)
from cifar10_study.core.errors import StudyError
from cifar10_study.core.fileio import read_json, write_json
from cifar10_study.data import CLASSES
from cifar10_study.reporting import stage3_report
from cifar10_study.reporting.formatting import accuracy_over_seeds, against_cell
from cifar10_study.reporting.study import Study

N = 1000  # test images per run


def runs(name: str, right: dict[int, int], n: int = N) -> SeededRuns:
    """A configuration's runs as SeededRuns holds them: seed s gets exactly the first right[s] of n test images
    right, so two configurations' McNemar counts on a seed are the difference of their counts."""
    return SeededRuns(name, {"run": name, "seeds": list(right)}, {s: k / n for s, k in right.items()},
                      {s: np.arange(n) < k for s, k in right.items()})


REFERENCE = {0: 700, 1: 720, 2: 740}  # mean 72.00%, sd 2.00 points over three seeds


def test_one_run_against_three_seeds_is_judged_by_their_prediction_interval_and_mcnemar_only_shown():
    d = Difference.of(runs("a", {0: 800}), runs("ref", REFERENCE), alpha=0.05)
    interval = prediction_interval([0.70, 0.72, 0.74], confidence=0.95)
    assert d.difference == pytest.approx(0.08) and d.floor == pytest.approx(interval["half_width"])
    assert d.p_value == pytest.approx(1 - math.sqrt(6 / 7))  # t = sqrt(12) at 2 df, as test_stats works it out
    assert (d.basis, d.seeds, d.alpha) == (PREDICTION_BASIS, (1, 3), 0.05)
    # Seed 0 alone is matched: A gets 100 images right that the reference misses and none the other way.
    assert d.mcnemar_p == pytest.approx(2 * 0.5 ** 100)
    assert d.mcnemar_p < 1e-6 and not d.beyond_noise and d.verdict == "within seed noise"
    assert str(d) == ("+8.00 points (1 against 3 seed(s), seed-noise floor ±9.94 points: within seed noise; "
                      "McNemar p = 1.6e-30, test images only)")
    assert d.floor_text == "±9.94 points"


def test_beyond_the_floor_is_beyond_seed_noise_on_either_side():
    above = Difference.of(runs("a", {0: 830}), runs("ref", REFERENCE), alpha=0.05)
    below = Difference.of(runs("a", {0: 610}), runs("ref", REFERENCE), alpha=0.05)
    for d in (above, below):
        assert abs(d.difference) > d.floor and d.p_value < 0.05 and d.beyond_noise
        assert d.verdict == "beyond seed noise" and ": beyond seed noise; " in str(d)
    assert str(below).startswith("-11.00 points (1 against 3 seed(s), seed-noise floor ±9.94 points")
    # The same run at a stricter level is within the (wider) floor.
    strict = Difference.of(runs("a", {0: 830}), runs("ref", REFERENCE), alpha=0.01)
    assert strict.floor > above.floor and not strict.beyond_noise and strict.verdict == "within seed noise"


def test_seeds_on_both_sides_use_welch_and_mcnemar_pools_the_matched_seeds():
    a = runs("a", {0: 790, 1: 780, 2: 800, 3: 785})
    d = Difference.of(a, runs("ref", REFERENCE), alpha=0.05)
    test = seed_noise_test([0.79, 0.78, 0.80, 0.785], [0.70, 0.72, 0.74], alpha=0.05)
    assert (d.difference, d.floor, d.p_value) == pytest.approx((test["difference"], test["floor"], test["p_value"]))
    assert (d.basis, d.seeds) == (WELCH_BASIS, (4, 3)) and d.beyond_noise
    # McNemar over seeds 0-2 only (seed 3 has no reference run): A alone right on 90 + 60 + 60 images.
    pooled = pooled_mcnemar([(np.arange(N) < k, np.arange(N) < r) for k, r in ((790, 700), (780, 720), (800, 740))])
    assert (pooled["a_only"], pooled["b_only"]) == (210, 0) and d.mcnemar_p == pytest.approx(pooled["p_value"])
    assert d.mcnemar_p == pytest.approx(2 * 0.5 ** 210)


def test_seeds_that_disagree_make_a_difference_mcnemar_calls_overwhelming_within_seed_noise():
    """The issue's case: each matched seed's models differ on hundreds of test images, so McNemar's p is tiny; but
    A's own seeds spread over 20 points, so the difference of the means is what retraining alone can give."""
    a = runs("a", {0: 900, 1: 700, 2: 880})  # mean 82.67%, sd 11.0 points
    reference = runs("ref", {0: 780, 1: 770, 2: 790})  # mean 78.00%, sd 1.0 point
    d = Difference.of(a, reference, alpha=0.05)
    assert d.mcnemar_p < 1e-6 and d.basis == WELCH_BASIS and d.difference == pytest.approx(0.0466667, abs=1e-6)
    assert d.verdict == "within seed noise" and not d.beyond_noise and abs(d.difference) < d.floor
    # One run of A against the reference's agreeing seeds: its own spread is not the reference's, so a one-seed
    # comparison says beyond (the prediction interval assumes A spreads as the reference does).
    lone = Difference.of(runs("a", {0: 900}), reference, alpha=0.05)
    assert lone.basis == PREDICTION_BASIS and lone.verdict == "beyond seed noise"
    # The reference's seeds disagreeing widen the floor of every one-run comparison with it.
    wide = Difference.of(runs("a", {0: 900}), runs("ref", {0: 780, 1: 620, 2: 800}), alpha=0.05)
    assert wide.mcnemar_p < 1e-6 and wide.verdict == "within seed noise"


def test_one_seed_a_side_measures_no_floor_whatever_the_test_images_say():
    d = Difference.of(runs("a", {0: 900}), runs("ref", {0: 700}), alpha=0.05)
    assert (d.floor, d.p_value, d.basis, d.seeds) == (None, None, NO_SEED_SPREAD, (1, 1))
    assert d.mcnemar_p < 1e-40 and not d.beyond_noise and d.verdict == "seed spread not measured"
    assert d.floor_text == "not measured"
    assert str(d) == ("+20.00 points (1 against 1 seed(s): seed spread not measured; McNemar p = 1.2e-60, test images "
                      "only)")


def test_configurations_without_a_common_seed_on_the_same_test_images_are_refused():
    with pytest.raises(StudyError, match=r"^a and ref share no seed trained on the same test images; rerun both"):
        Difference.of(runs("a", {5: 800}), runs("ref", REFERENCE), alpha=0.05)
    with pytest.raises(StudyError, match=r"^a and ref share no seed trained on the same test images"):
        Difference.of(runs("a", {0: 80}, n=100), runs("ref", REFERENCE), alpha=0.05)


def test_a_table_cell_gives_the_difference_the_floor_and_the_verdict():
    within = Difference.of(runs("a", {0: 800}), runs("ref", REFERENCE), alpha=0.05)
    assert against_cell(within) == "+8.00 points (floor ±9.94 points: within seed noise)"
    unmeasured = Difference.of(runs("a", {0: 688}), runs("ref", {0: 700}), alpha=0.05)
    assert against_cell(unmeasured) == "-1.20 points (floor not measured: seed spread not measured)"
    assert against_cell(None) == ""  # a configuration not (yet) complete


def test_a_configurations_accuracy_is_its_mean_over_seeds_with_their_spread():
    assert accuracy_over_seeds({"seeds": [0, 1, 2], "test_accuracy": 0.72, "test_accuracy_std": 0.02}) == \
        "72.00% +- 2.00% (3 seeds)"
    assert accuracy_over_seeds({"seeds": [0], "test_accuracy": 0.7474, "test_accuracy_std": None}) == "74.74% (1 seed)"


# --- the Stage 1-3 analyses over seeds, from the runs' files ---------------------------------------------------

IMAGES = 100  # test images per run on disk; image i is of class i % 10


def write_run(run: str, seed: int, right: int, convs_per_stage: int = 1) -> None:
    """runs/<run>/ as training writes it (no timing.json, as restored from a DVC cache): the run gets exactly the
    first `right` of the test images right, with a history, test predictions and per-step losses."""
    folder = Path("runs") / run
    labels = np.arange(IMAGES) % 10
    acc = right / IMAGES
    write_json(folder / "results.json", {
        "test_accuracy": acc, "test_loss": 2 - acc, "final_val_accuracy": acc - 0.02,
        "final_train_accuracy": acc + 0.05, "parameters": 1000, "flops_per_image": 2000, "epochs": 2,
        "train_images": 500, "test_images": IMAGES})
    write_json(folder / "info.json", {
        "run": run, "compiled": False, "compile": {"mode": "off"}, "runtime": {"device": "cpu"},
        "provenance": {"profile": "quick", "seed": seed, "device": "cpu", "torch_threads": 2},
        "config": {"model": {"name": "baseline_cnn", "convs_per_stage": convs_per_stage},
                   "train": {"epochs": 2, "seed": seed}}})
    pd.DataFrame({"epoch": [1, 2], "train_acc": [acc - 0.1, acc + 0.05], "val_acc": [acc - 0.1, acc - 0.02],
                  "val_loss": [2.0, 1.5 + seed], "train_loss": [2.1, 1.4]}).to_csv(folder / "history.csv", index=False)
    predicted = np.where(np.arange(IMAGES) < right, labels, (labels + 1) % 10)
    pd.DataFrame({"actual": [CLASSES[i] for i in labels], "predicted": [CLASSES[i] for i in predicted],
                  "confidence": 0.8}).to_csv(folder / "predictions.csv", index=False)
    pd.DataFrame({"step": range(8), "loss": np.linspace(2, 1, 8), "grad_norm": 1.0 + seed}).to_csv(
        folder / "steps.csv", index=False)


def seeds(*trained: int) -> dict:
    return {"seeds": {f"seed_{s}": ["quick"] for s in trained}}


BASELINE_RIGHT = {0: 70, 1: 72, 2: 74}  # 72.00% +- 2.00 points: a one-run floor of ±9.94 points


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for seed, right in BASELINE_RIGHT.items():
        write_run(f"stage1/seed_{seed}", seed, right)
    return tmp_path


def test_the_stage1_analysis_reads_the_baseline_and_each_experiment_over_their_seeds(in_tmp):
    experiments = {"linear_avgpool": 40, "linear_maxpool": 66, "softmax": 38, "bottleneck_1": 45, "bottleneck_4": 68}
    collapse = {"linear_avgpool": {"is_affine": True, "max_rel_diff_float32": 1e-7},
                "linear_maxpool": {"is_affine": False, "max_rel_diff_float32": 0.3}}
    for seed in (0, 3):  # seed 3 trained at another profile only: not read
        for name, right in experiments.items():
            write_run(f"stage1_experiments/seed_{seed}/{name}", seed, right + seed)
        write_json(in_tmp / f"runs/stage1_experiments/seed_{seed}/experiment.json",
                   {"variants": list(experiments), "collapse": collapse, "bottleneck_widths": [1, 4],
                    "baseline_channels": [32, 64, 128], "bottleneck_stage": 1})
    params = Stage1AnalysisParams(profile="quick", stage1=seeds(0, 1, 2),
                                  stage1_experiments={"seeds": {"seed_0": ["quick"], "seed_3": ["full"]}})
    exp = stage1_results.experiments(params.profile, params.stage1_experiments)
    assert exp["seeded"]["softmax"].name == "stage1_experiments/softmax" and exp["seeded"]["softmax"].seeds == [0]
    assert exp["runs"]["softmax"]["test_accuracy"] == 0.38 and exp["collapse_by_seed"] == {0: collapse}
    stage1_results.write_outputs(params)

    base = read_json("metrics/stage1.json")
    assert base["test_accuracy"] == pytest.approx(0.72) and base["test_accuracy_std"] == pytest.approx(0.02)
    assert base["seeds"] == [0, 1, 2] and base["per_seed"]["seed_2"]["test_accuracy"] == 0.74
    written = read_json("metrics/stage1_experiments.json")
    avgpool = written["runs"]["linear_avgpool"]
    assert avgpool["seeds"] == [0] and avgpool["test_accuracy_std"] is None
    assert avgpool["against_baseline"] == {
        "difference": pytest.approx(-0.32), "seed_noise_floor": pytest.approx(prediction_interval([.70, .72, .74])[
            "half_width"]), "p_seed_noise": pytest.approx(seed_noise_test([0.40], [.70, .72, .74])["p_value"]),
        "beyond_seed_noise": True, "p_mcnemar_test_images": pytest.approx(2 * 0.5 ** 30)}
    assert not written["runs"]["bottleneck_4"]["against_baseline"]["beyond_seed_noise"]  # 4 points: within ±9.94
    assert written["collapse"] == {"seed_0": collapse}
    # The confusion matrix counts every seed's test predictions; the curve is the mean over seeds.
    matrix = np.array(read_json("plots/stage1/confusion_matrix.json")["matrix"])
    assert matrix.sum() == 3 * IMAGES and matrix.trace() == sum(BASELINE_RIGHT.values())
    curve = pd.read_csv("plots/stage1/history.csv")
    assert curve["val_loss"].tolist() == pytest.approx([2.0, 2.5]) and "epoch_seconds" not in curve
    assert list(pd.read_csv("plots/stage1_experiments/val_accuracy.csv").columns) == ["epoch", *experiments]


def test_the_stage2_variants_are_read_over_their_seeds_and_judged_against_the_baselines_floor(in_tmp):
    write_run("stage2/width_x2/seed_0", 0, 80)
    write_run("stage2/depth_x2/seed_0", 0, 55, convs_per_stage=2)
    params = stage2_results.Stage2AnalysisParams(
        profile="quick", stage1=seeds(0, 1, 2),
        stage2={**seeds(0), "variants": {"width_x2": {"width": 2}, "depth_x2": {"convs_per_stage": 2}},
                "loss_window": 2})
    runs = stage2_results.VariantRuns.load(params)
    assert list(runs.seeded) == ["baseline", "width_x2", "depth_x2"]
    assert runs.seeded["baseline"].name == "stage1" and runs.seeded["baseline"].seeds == [0, 1, 2]
    assert set(runs.steps["baseline"]) == {0, 1, 2} and runs.records["baseline"]["test_accuracy"] == pytest.approx(0.72)
    assert runs.histories["baseline"]["val_loss"].tolist() == pytest.approx([2.0, 2.5])  # the mean over seeds
    against = runs.against_baseline(alpha=0.05)
    assert set(against) == {"width_x2", "depth_x2"}
    assert against["width_x2"].seeds == (1, 3) and against["width_x2"].verdict == "within seed noise"
    assert against["depth_x2"].difference == pytest.approx(-0.17) and against["depth_x2"].verdict == "beyond seed noise"
    table = stage2_results.variants_table(params.stage2, runs).set_index("variant")
    assert table["seeds"].to_dict() == {"baseline": 3, "width_x2": 1, "depth_x2": 1}
    assert table.loc["baseline", "grad_norm_median"] == pytest.approx(2.0)  # seeds' 1, 2 and 3, averaged


def test_the_stage3_analysis_judges_each_ablation_against_the_full_models_seeds(in_tmp):
    full = {0: 80, 1: 81, 2: 79}  # sd 1 point: a one-run floor of ±4.97 points
    for seed, right in full.items():
        write_run(f"stage3/seed_{seed}", seed, right)
    ablation_right = {"no_residual": 70, "no_batchnorm": 60, "no_dropout": 78, "no_label_smoothing": 82,
                      "no_weight_decay": 80}
    for name, right in ablation_right.items():
        write_run(f"stage3_ablations/{name}/seed_0", 0, right)
    params = Stage3AnalysisParams(profile="quick", stage1=seeds(0, 1, 2),
                                  stage3={"seeds": seeds(0, 1, 2)["seeds"], "ablation_seeds": seeds(0)["seeds"]})
    runs = stage3_runs(params)
    assert list(runs) == ["stage3", *ablation_right] and runs["stage3"].seeds == [0, 1, 2]
    assert runs["no_residual"].name == "stage3_ablations/no_residual" and runs["no_residual"].seeds == [0]
    against = against_full(runs, alpha=0.05)
    assert {name: d.verdict for name, d in against.items()} == {
        "no_residual": "beyond seed noise", "no_batchnorm": "beyond seed noise", "no_dropout": "within seed noise",
        "no_label_smoothing": "within seed noise", "no_weight_decay": "within seed noise"}
    assert against["no_dropout"].mcnemar_p == pytest.approx(0.5)  # seed 0: 2 images the full model alone gets right
    stage3_write_outputs(params)
    written = read_json("metrics/stage3.json")
    assert "against_full" not in written["configurations"]["stage3"]
    assert written["configurations"]["stage3"]["test_accuracy"] == pytest.approx(0.80)
    assert written["configurations"]["no_residual"]["against_full"]["difference"] == pytest.approx(-0.10)
    # The full model against the Stage 1 baseline: three seeds a side, Welch's test.
    baseline = written["against_stage1_baseline"]
    welch = seed_noise_test([0.80, 0.81, 0.79], [0.70, 0.72, 0.74])
    assert baseline["difference"] == pytest.approx(0.08)
    assert baseline["seed_noise_floor"] == pytest.approx(welch["floor"])
    assert baseline["beyond_seed_noise"] is True
    assert list(pd.read_csv("plots/stage3/val_accuracy.csv").columns) == ["epoch", "stage3", *ablation_right]


# --- what the report says of a comparison -----------------------------------------------------------------------

def configuration(name: str, right: dict[int, int]) -> SeededRuns:
    """runs(), with the per-seed records and summary a table row reads (SeededRuns.mean_record)."""
    r = runs(name, right)
    per_seed = {s: {"test_accuracy": a, "final_train_accuracy": a + 0.05, "final_val_accuracy": a - 0.02,
                    "parameters": 1000} for s, a in r.accuracy.items()}
    summary = {**r.summary, **dict.fromkeys(SUMMARISED),
               **{key: summarize([m[key] for m in per_seed.values()])
                  for key in ("test_accuracy", "final_train_accuracy", "final_val_accuracy")}}
    return SeededRuns(name, summary, r.accuracy, r.correct, per_seed=per_seed)


def test_the_stage3_ablations_say_which_costs_are_beyond_seed_noise_and_which_are_within():
    right = {"no_residual": 700, "no_batchnorm": 600, "no_dropout": 780, "no_label_smoothing": 900,
             "no_weight_decay": 805}
    seeded = {"stage3": configuration("stage3", {0: 800, 1: 810, 2: 790}),  # sd 1 point: a floor of ±4.97 points
              **{f"stage3_ablations/{n}": configuration(f"stage3_ablations/{n}", {0: k}) for n, k in right.items()}}
    study = SimpleNamespace(seeded=seeded, records={n: r.mean_record() for n, r in seeded.items()},
                            params=SimpleNamespace(statistics=SimpleNamespace(alpha=0.05)))
    study.against = lambda configuration, reference: Study.against(study, configuration, reference)
    lines = stage3_report._ablations(study, study.records["stage3"])
    text = "\n".join(lines)
    header, _, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[0].splitlines()]
    table = {row[0]: dict(zip(header, row)) for row in rows}
    assert list(table) == ["full model", *right]
    full = table["full model"]
    assert (full["test acc"], full["test acc vs full"]) == ("80.00% +- 1.00% (3 seeds)", "")
    assert table["no_residual"]["turned off"] == "residual" and table["no_residual"]["test acc"] == "70.00% (1 seed)"
    assert table["no_residual"]["test acc vs full"] == "-10.00 points (floor ±4.97 points: beyond seed noise)"
    assert table["no_dropout"]["test acc vs full"] == "-2.00 points (floor ±4.97 points: within seed noise)"
    assert table["no_label_smoothing"]["test acc vs full"] == "+10.00 points (floor ±4.97 points: beyond seed noise)"
    assert "Removing batchnorm (-20.00 points), residual (-10.00 points) costs accuracy beyond seed noise." in text
    assert "Removing label smoothing raises accuracy beyond seed noise." in text
    assert ("Removing dropout, weight decay moves test accuracy by less than retraining with another seed can: within "
            "seed noise at this profile, whatever the test images say.") in text
    assert "Accuracies are means over seeds (the full model 3, each ablation 1)" in text
    # McNemar sees the 20 images the full model's seed 0 alone gets right, and the report still calls it no cost.
    assert study.against("stage3_ablations/no_dropout", "stage3").mcnemar_p < 1e-5
