"""Stage 2: scaling variants, gradient recording, diagnostics summaries, and the stress tests as data."""
import copy

import pandas as pd
import pytest
import torch
from ruamel.yaml import YAML

from cifar10_study.analysis import stage2_results
from cifar10_study.analysis.available import TrainedSeeds, completed_stages
from cifar10_study.analysis.diagnostics import overfitting_summary, quadratic_fit, stability_summary
from cifar10_study.core.layout import variant_run
from cifar10_study.experiments import stress_tests
from cifar10_study.experiments.stage2 import ScalingVariant, variant_model
from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.params import parse_params
from cifar10_study.training.engine import train
from cifar10_study.training.measure import flops_per_image, peak_memory
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.recorders import LayerGradRecorder, StepRecorder
from cifar10_study.training.train_run import build_seeded
from helpers import ROOT, PoisonAfter, learnable_splits

CPU = torch.device("cpu")
BASE = BaselineCNNConfig(name="baseline_cnn", channels=[32, 64, 128], hidden=256)


def conv_params(model):
    return sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Conv2d) for p in m.parameters())


def test_width_x2_has_about_four_times_the_conv_parameters_exactly_as_counted():
    wide = variant_model(BASE, ScalingVariant(width=2)).build()
    # conv k x k: k*k*in*out weights + out biases; the first layer's input stays 3 channels.
    expected = (9 * 3 * 64 + 64) + (9 * 64 * 128 + 128) + (9 * 128 * 256 + 256)
    assert conv_params(wide) == expected == 370_816
    ratio = expected / conv_params(BASE.build())
    assert 3.9 < ratio < 4.0  # 4x but for the 3-channel input layer and the biases


def test_depth_variant_adds_exactly_the_extra_conv_layers():
    base, deep = BASE.build(), variant_model(BASE, ScalingVariant(convs_per_stage=3)).build()
    count = lambda m, t: sum(isinstance(x, t) for x in m.modules())
    assert count(deep, torch.nn.Conv2d) == count(base, torch.nn.Conv2d) + 2 * 3
    assert count(deep, torch.nn.MaxPool2d) == count(base, torch.nn.MaxPool2d) == 3  # no extra pooling
    assert count(deep, torch.nn.ReLU) == count(base, torch.nn.ReLU) + 2 * 3
    extra = sum(2 * (9 * c * c + c) for c in (32, 64, 128))
    assert sum(p.numel() for p in deep.parameters()) == sum(p.numel() for p in base.parameters()) + extra


def recipe(**kw):
    return TrainConfig.model_validate({"epochs": 2, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.01},
                                       "schedule": {"name": "constant"}, **kw})


def test_gradient_recorders_give_one_value_per_layer_and_per_step():
    cfg = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], convs_per_stage=3, hidden=0)
    model = build_seeded(cfg, 0)
    layers = LayerGradRecorder(model, [0, 5, 999])
    steps = StepRecorder()
    train(model, learnable_splits(), recipe(), device=CPU, on_backward=(layers, steps))
    frame = layers.frame()
    assert sorted(frame["step"].unique()) == [0, 5]  # step 999 never happens: not recorded
    assert (frame.groupby("step").size() == 7).all()  # 6 conv layers + the classifier
    assert list(frame[frame["step"] == 0]["layer"]) == list(range(1, 8))
    assert (frame["grad_norm"] > 0).all()
    per_step = steps.frame()
    assert list(per_step["step"]) == list(range(1, 2 * (256 // 32) + 1))
    assert per_step["grad_norm"].gt(0).all() and per_step["loss"].gt(0).all()


def test_plain_deep_cnn_gradients_vanish_towards_the_input():
    model = build_seeded(BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], convs_per_stage=15, hidden=0), 0)
    layers = LayerGradRecorder(model, [0])
    train(model, learnable_splits(n_train=64), recipe(epochs=1), device=CPU, on_backward=(layers,))
    norms = layers.frame()["grad_norm"].to_numpy()
    assert norms[0] < 1e-6 * norms[-1]


def test_summaries_against_hand_computed_values():
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "train_acc": [0.3, 0.5, 0.7, 0.9], "val_acc": [0.3, 0.45, 0.5, 0.5],
                            "val_loss": [2.0, 1.5, 1.4, 1.6]})
    s = overfitting_summary(history)
    assert s["best_val_loss_epoch"] == 3 and s["epochs_past_best"] == 1
    assert s["final_gap"] == pytest.approx(0.4) and s["max_gap"] == pytest.approx(0.4)
    steps = pd.DataFrame({"step": range(1, 9), "loss": [1, 3, 1, 3, 2, 2, 2, 2], "grad_norm": [1, 2, 3, 4, 5, 6, 7, 8]})
    st = stability_summary(steps, window=2)
    assert st["loss_spread_median"] == pytest.approx(0.0)  # the second half is flat
    assert st["grad_norm_median"] == pytest.approx(6.5) and st["grad_norm_max"] == 8


def test_quadratic_fit_recovers_an_exact_quadratic():
    fit = quadratic_fit([1, 2, 4, 8], [2 * x * x + 3 * x + 1 for x in (1, 2, 4, 8)])
    assert fit["a"] == pytest.approx(2) and fit["b"] == pytest.approx(3) and fit["c"] == pytest.approx(1)
    assert fit["r2"] == pytest.approx(1.0)
    assert quadratic_fit([1, 2], [1, 4]) is None
    assert quadratic_fit([1, 2, 3, 4], [1, 4, float("nan"), 16])["a"] == pytest.approx(1)


def test_peak_memory_sees_an_allocation():
    with peak_memory(CPU) as memory:
        block = torch.ones(50_000_000)  # 200 MB
        del block
    if memory["bytes"] is None:
        pytest.skip("no /proc peak-RSS counter on this platform")
    assert memory["bytes"] - memory["start_bytes"] > 150e6


@pytest.fixture
def params_raw():
    return YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())


def _params(raw, **sections):
    raw = copy.deepcopy(raw)
    raw["profile"] = "smoke"
    for dotted, value in sections.items():
        section, key = dotted.split("__")
        raw[section][key] = value
    return parse_params(raw)


def test_a_diverging_stress_run_is_recorded_not_raised(params_raw, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real_build = stress_tests.build_seeded
    monkeypatch.setattr(stress_tests, "build_seeded", lambda cfg, seed: PoisonAfter(real_build(cfg, seed), after=2))
    params = _params(params_raw, stage2_vanishing__depths=[4, 6], stage2_vanishing__grad_steps=[0, 1])
    record = stress_tests.vanishing_test(params, learnable_splits(), CPU)
    assert set(record["depths"]) == {"depth_4", "depth_6"}  # the other runs go on
    run = record["depths"]["depth_4"]
    assert run["diverged"] is True and run["diverged_epoch"] == 1 and run["diverged_step"] == 2
    assert run["diverged_loss"] == "nan" and not (tmp_path / "runs/stage2_vanishing/depth_4").exists()
    # The analysis reads the record: the diverged depth has no accuracy, and what was recorded before
    # the divergence (the gradient norms at step 0) is kept.
    summary = stage2_results.vanishing(0.2, stage2_results.grad_norms())["runs"]["depth_4"]
    assert summary["diverged"] is True and summary.get("test_accuracy") is None and "0" in summary["grad_norms"]


def test_explosion_counts_every_width_and_says_why_one_was_not_trained(params_raw, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = learnable_splits()
    # A budget that fits width x2's training compute exactly, so x1 and x2 train and x4 does not.
    recipe = parse_params(params_raw).stage2_explosion.train_for("smoke")
    images = (min(recipe.train_subset, len(data.train)) // recipe.batch_size) * recipe.batch_size * recipe.epochs
    x2_tflop = 3 * flops_per_image(BASE.scaled(2).build()) * images / 1e12
    params = _params(params_raw, stage2_explosion__widths=[1, 2, 4, 8], stage2_explosion__measure_batch_size=8,
                     stage2_explosion__measure_max_gflops=10.0,
                     stage2_explosion__train_budget_tflop={"full": 1.0, "preview": 1.0, "quick": 1.0,
                                                           "smoke": x2_tflop})
    stress_tests.explosion_test(params, data, CPU)
    table, summary = stage2_results.explosion()
    widths = table.set_index("width")
    assert widths["parameters"].tolist() == [
        sum(p.numel()
            for p in BASE.model_copy(update={"channels": [32 * w, 64 * w, 128 * w]}).build().parameters())
        for w in (1, 2, 4, 8)]
    assert widths.loc[1, "trained"] and widths.loc[2, "trained"] and widths.loc[1, "measured"]
    assert widths.loc[4, "measured"] and not widths.loc[4, "trained"] and "TFLOP" in widths.loc[4, "reason"]
    assert not widths.loc[8, "measured"] and not widths.loc[8, "trained"]
    assert "exceeds measure_max_gflops" in widths.loc[8, "reason"]
    assert summary["fits"]["parameters"]["r2"] > 0.999
    assert (tmp_path / "runs/stage2_explosion/width_x1/results.json").is_file()
    # Measured times and memory are in timing.json (out of the DVC hash), merged back by the analysis.
    cached = pd.read_csv(tmp_path / "runs/stage2_explosion/widths.csv")
    assert not {"seconds_per_step", "peak_memory_bytes", "train_seconds"} & set(cached.columns)
    assert widths.loc[[1, 2, 4], "seconds_per_step"].gt(0).all() and widths.loc[[1, 2], "train_seconds"].gt(0).all()
    (tmp_path / "runs/stage2_explosion/timing.json").unlink()  # as restored from a DVC cache
    assert "seconds_per_step" not in stage2_results.explosion()[0]


# --- the variants' baseline and what counts as learning (analysis) ---------------------------------------------

def test_the_variants_baseline_is_the_stage1_run_listed_first():
    settings = stage2_results.VariantSettings(
        seeds={"seed_0": ["smoke"]}, variants={"width_x2": {"width": 2}, "depth_x2": {"convs_per_stage": 2}},
        loss_window=20, learned_accuracy=0.2)
    compared = stage2_results.compared_variants(settings)
    assert list(compared) == ["baseline", "width_x2", "depth_x2"]
    assert (compared["baseline"].width, compared["baseline"].convs_per_stage) == (1, None)  # None: stage1.model's
    assert [variant_run(v) for v in compared] == ["stage1", "stage2/width_x2", "stage2/depth_x2"]


def test_the_baselines_seeds_are_the_stage1_runs_and_each_variants_stage2s_at_the_profile():
    params = stage2_results.Stage2AnalysisParams(
        profile="quick", stage1={"seeds": {"seed_0": ["full", "quick"], "seed_2": ["quick"], "seed_1": ["quick"]}},
        stage2={"seeds": {"seed_0": ["full", "quick"], "seed_1": ["full"]}, "variants": {"width_x2": {"width": 2}},
                "loss_window": 20})
    assert params.variant_seeds("baseline") == [0, 1, 2]  # ascending, whatever the params' order
    assert params.variant_seeds("width_x2") == [0]
    assert params.model_copy(update={"profile": "full"}).variant_seeds("width_x2") == [0, 1]
    assert params.statistics.alpha == 0.05  # the default level where params.yaml sets none


def _record(convs_per_stage: int, seeds: list[int], std: float | None) -> dict:
    """What SeededRuns.mean_record gives of a configuration, as far as the variants' table reads it."""
    return {"parameters": 1, "flops_per_image": 2, "final_train_accuracy": 0.5, "final_val_accuracy": 0.4,
            "test_accuracy": 0.4, "test_accuracy_std": std, "test_loss": 1.5, "images_per_second": 10.0,
            "peak_memory_bytes": 3, "peak_memory_kind": "process_peak_rss", "seeds": seeds,
            "config": {"model": {"convs_per_stage": convs_per_stage}}}


def test_the_variants_table_gives_each_rows_depth_as_its_runs_model_has_it():
    """With a baseline of 2 conv layers per stage, a variant that only widens it has depth 2 (not 1), and the
    findings' wider/deeper split is taken against that depth. Each row's results are its mean record over seeds,
    with their number and the test accuracy's spread; the overfitting diagnostic is its mean curve's, the stability
    diagnostic the mean over its seeds."""
    shapes = {"wide": {"width": 2}, "wide_shallow": {"width": 2, "convs_per_stage": 1},
              "deep": {"convs_per_stage": 3}, "shallow": {"convs_per_stage": 1}}
    settings = stage2_results.VariantSettings(seeds={"seed_0": ["smoke"]}, variants=shapes, loss_window=2)
    depth = {"baseline": 2, "wide": 2, "wide_shallow": 1, "deep": 3, "shallow": 1}
    history = pd.DataFrame({"epoch": [1, 2], "train_acc": [0.3, 0.5], "val_acc": [0.3, 0.4],
                            "val_loss": [2.0, 1.5], "train_loss": [2.1, 1.4], "epoch_seconds": [1.0, 3.0]})
    later_minimum = history.assign(val_loss=[1.0, 1.5], val_acc=[0.3, 0.2])  # best at epoch 1, gap 0.3 at the end

    def steps(grad_norm: float) -> pd.DataFrame:
        return pd.DataFrame({"step": range(8), "loss": [2.0, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3],
                             "grad_norm": grad_norm})
    records = {v: _record(d, [0], None) for v, d in depth.items()} | {"baseline": _record(2, [0, 1, 2], 0.01)}
    per_seed_steps = {v: {0: steps(1.0)} for v in depth} | {"baseline": {0: steps(1.0), 1: steps(2.0), 2: steps(6.0)}}
    runs = stage2_results.VariantRuns({}, per_seed_steps, records,
                                      dict.fromkeys(depth, history) | {"deep": later_minimum})
    table = stage2_results.variants_table(settings, runs).set_index("variant")
    assert list(table.index) == list(depth)  # the baseline first, then params.yaml order
    assert table["convs_per_stage"].to_dict() == depth
    assert table["seeds"].to_dict() == {"baseline": 3, "wide": 1, "wide_shallow": 1, "deep": 1, "shallow": 1}
    assert table.loc["baseline", "test_accuracy_std"] == 0.01 and pd.isna(table.loc["wide", "test_accuracy_std"])
    assert table.loc["baseline", "grad_norm_median"] == pytest.approx(3.0)  # (1 + 2 + 6) / 3 seeds
    assert table.loc["baseline", "grad_norm_max"] == pytest.approx(3.0) and table.loc["wide", "grad_norm_median"] == 1.0
    assert table.loc["baseline", "mean_epoch_seconds"] == 2.0
    assert (table.loc["deep", "best_val_loss_epoch"], table.loc["deep", "final_gap"]) == (1, pytest.approx(0.3))
    assert (table.loc["wide", "best_val_loss_epoch"], table.loc["wide", "final_gap"]) == (2, pytest.approx(0.1))
    table = table.reset_index()
    assert stage2_results.wider_variants(table) == ["wide"]
    assert stage2_results.deeper_variants(table) == ["deep"]


def _finish(tmp_path, *runs: str) -> None:
    for run in runs:
        (tmp_path / "runs" / run).mkdir(parents=True)
        (tmp_path / "runs" / run / "results.json").write_text("{}")


def test_stage1_and_stage2_are_complete_only_with_every_seed_they_train(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seeds = TrainedSeeds(stage1=[0, 1, 2], stage1_experiments=[0], stage2=[0, 1], stage3=[0], stage3_ablations=[0],
                         stage4=[0])
    variants = ["width_x2", "depth_x2"]
    _finish(tmp_path, "stage2/width_x2/seed_0", "stage2/depth_x2/seed_0", "stage2/width_x2/seed_1",
            "stage1/seed_0", "stage1/seed_1")
    assert not {"stage1", "stage2"} & completed_stages(variants, seeds)  # stage1 seed 2 and depth_x2 seed 1 missing
    _finish(tmp_path, "stage2/depth_x2/seed_1")
    assert "stage2" in completed_stages(variants, seeds) and "stage1" not in completed_stages(variants, seeds)
    _finish(tmp_path, "stage1/seed_2")
    assert {"stage1", "stage2"} <= completed_stages(variants, seeds)
    (tmp_path / "runs/stage1/seed_2/results.json").unlink()  # a run not finished: no results.json yet
    assert "stage1" not in completed_stages(variants, seeds)
    # The experiments are complete once each seed's record is written (last, after its variants).
    assert "stage1_experiments" not in completed_stages(variants, seeds)
    (tmp_path / "runs/stage1_experiments/seed_0").mkdir(parents=True)
    (tmp_path / "runs/stage1_experiments/seed_0/experiment.json").write_text("{}")
    assert "stage1_experiments" in completed_stages(variants, seeds)
    assert "stage1_experiments" not in completed_stages(variants, TrainedSeeds([0], [0, 1], [0], [0], [0], [0]))


def test_a_variant_never_learned_below_the_learned_accuracy_the_vanishing_test_uses():
    variants = pd.DataFrame({"variant": ["a", "b", "c"], "final_val_accuracy": [0.1, 0.1999, 0.2]})
    assert stage2_results.never_learned(variants, 0.2).tolist() == [True, True, False]
    assert stage2_results.never_learned(variants, 0.15).tolist() == [True, False, False]
