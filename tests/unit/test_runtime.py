"""How a run runs (params.yaml `runtime`), on CPU: device choice, interval checkpoints written in the
background, warm-up timed apart from the steady state, recorders that survive a resume, runs without a
validation split, and the GPU check's script, which must fail cleanly here and keep working (smoke mode)."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest
import torch

from cifar10_study.core.errors import ConfigError
from cifar10_study.data.cifar10 import MEAN, STD, Split, Splits
from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.training.checkpoint import Checkpoint
from cifar10_study.training.device import init_device
from cifar10_study.training.engine import run_splits, train
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.recorders import StepRecorder
from cifar10_study.training.runtime import RuntimeConfig
from cifar10_study.training.train_run import build_seeded
from helpers import ROOT, learnable_splits

CPU = torch.device("cpu")
MODEL = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)
STEPS_PER_EPOCH = 256 // 32


def recipe(**kw) -> TrainConfig:
    base = {"epochs": 3, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "schedule": {"name": "cosine"}, "augment": {"crop_padding": 0, "flip": False}}
    return TrainConfig.model_validate({**base, **kw})


needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a GPU")


@needs_no_cuda
def test_asking_for_cuda_without_a_gpu_is_a_one_line_config_error():
    with pytest.raises(ConfigError,
                       match="^runtime.device is cuda, but this torch .*; set runtime.device to auto or cpu$"):
        init_device(RuntimeConfig(device="cuda"))
    assert init_device(RuntimeConfig(device="auto")) == CPU == init_device(RuntimeConfig(device="cpu"))


def test_runtime_settings_leave_cpu_results_unchanged():
    data = learnable_splits()
    runs = [train(build_seeded(MODEL, 0), data, recipe(), device=CPU, runtime=runtime)
            for runtime in (RuntimeConfig(), RuntimeConfig(compile="off", eval_batch_size=7, check_syncs=True))]
    # Evaluation in batches of 7 sums its float32 batch losses differently: only the losses may differ, by rounding.
    strip = [[{k: v for k, v in row.items() if k not in ("epoch_seconds", "val_loss")} for row in r.history]
             for r in runs]
    assert strip[0] == strip[1]
    assert [row["val_loss"] for row in runs[1].history] == pytest.approx([row["val_loss"] for row in runs[0].history],
                                                                         rel=1e-5)
    assert runs[0].test.loss == pytest.approx(runs[1].test.loss, rel=1e-5)
    assert (runs[0].test.predictions == runs[1].test.predictions).all()


def checkpoint_epochs_seen(interval: float, tmp_path) -> tuple[list, int]:
    """Train 3 epochs; at the first step of each epoch, note which epoch the checkpoint file holds."""
    path = tmp_path / f"every_{interval}.pt"
    checkpoint, seen = Checkpoint(path, interval_seconds=interval), []

    def look(step, model, loss):
        if step % STEPS_PER_EPOCH == 0:
            checkpoint.wait()  # the background write of the previous epoch's checkpoint, if one was due
            seen.append(torch.load(path, weights_only=True)["epoch"] if path.exists() else None)

    train(build_seeded(MODEL, 0), learnable_splits(), recipe(), device=CPU, on_backward=(look,), checkpoint=checkpoint)
    return seen, torch.load(path, weights_only=True)["epoch"]


def test_checkpoints_follow_the_interval_and_always_cover_the_last_epoch(tmp_path):
    assert checkpoint_epochs_seen(0.0, tmp_path) == ([None, 1, 2], 3)  # every epoch
    assert checkpoint_epochs_seen(3600.0, tmp_path) == ([None, None, None], 3)  # only the last


def test_a_checkpoint_is_the_state_at_save_time_although_training_goes_on(tmp_path):
    weights = torch.arange(4.0)
    checkpoint = Checkpoint(tmp_path / "c.pt")
    checkpoint.save({"w": weights, "nested": [weights]})
    weights.add_(100)  # training updates parameters in place while the file is being written
    checkpoint.wait()
    saved = torch.load(tmp_path / "c.pt", weights_only=True)
    assert saved["w"].tolist() == saved["nested"][0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_failed_background_write_reaches_the_run_as_an_oserror(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError):
        train(build_seeded(MODEL, 0), learnable_splits(), recipe(epochs=1), device=CPU,
              checkpoint=Checkpoint(tmp_path / "file" / "c.pt"))


@pytest.mark.parametrize("threshold, expected", [(0, "reduce-overhead"), (10**9, "off")])
def test_only_networks_of_compile_min_parameters_or_more_are_compiled(monkeypatch, threshold, expected):
    from cifar10_study.training import engine
    modes = []

    class Recording(engine.TrainForward):
        def __init__(self, model, mode, device):
            modes.append(mode)
            super().__init__(model, mode, device)

    monkeypatch.setattr(engine, "TrainForward", Recording)
    runtime = RuntimeConfig(compile="reduce-overhead", compile_min_parameters=threshold)
    train(build_seeded(MODEL, 0), learnable_splits(), recipe(epochs=1), device=CPU, runtime=runtime)
    assert modes == [expected]  # what the engine asks for; on CPU TrainForward then runs eager anyway
    trainable = sum(p.numel() for p in build_seeded(MODEL, 0).parameters())
    assert RuntimeConfig(compile_min_parameters=trainable).compile_mode_for(trainable) == "reduce-overhead"
    assert RuntimeConfig(compile_min_parameters=trainable + 1).compile_mode_for(trainable) == "off"


def test_warm_up_is_timed_apart_from_the_steady_epochs():
    result = train(build_seeded(MODEL, 0), learnable_splits(), recipe(epochs=4), device=CPU)
    times = [row["epoch_seconds"] for row in result.history]
    assert result.first_epoch_seconds == times[0]
    assert result.steady_epoch_seconds == statistics.median(times[1:])
    assert result.warmup_seconds == max(0.0, times[0] - statistics.median(times[1:]))
    assert result.images_per_epoch == STEPS_PER_EPOCH * 32
    assert result.images_per_second == pytest.approx(STEPS_PER_EPOCH * 32 / statistics.median(times[1:]))
    single = train(build_seeded(MODEL, 0), learnable_splits(), recipe(epochs=1), device=CPU)
    assert single.steady_epoch_seconds is None and single.warmup_seconds is None
    assert single.images_per_second == pytest.approx(single.images_seen / single.train_seconds)


def test_a_step_recorder_continues_across_a_resume():
    losses = [torch.tensor(float(i)) for i in range(5)]
    model = torch.nn.Linear(1, 1)
    model(torch.ones(1, 1)).sum().backward()
    first = StepRecorder()
    for i in range(3):
        first(i, model, losses[i])
    resumed = StepRecorder()
    resumed.load_state_dict(first.state_dict())
    for i in range(3, 5):
        resumed(i, model, losses[i])
    frame = resumed.frame()
    assert frame["step"].tolist() == [1, 2, 3, 4, 5] and frame["loss"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert frame["grad_norm"].nunique() == 1 and frame["grad_norm"].iloc[0] > 0


def test_a_run_without_a_validation_split_trains_and_tests():
    data = learnable_splits()
    no_val = Splits(data.train, data.val.head(0), data.test, data.meta)
    result = train(build_seeded(MODEL, 0), no_val, recipe(epochs=2), device=CPU)
    assert [(row["val_loss"], row["val_acc"]) for row in result.history] == [(None, None)] * 2
    assert len(result.test.predictions) == len(data.test)


def numbered_splits(train: int, val: int, test: int) -> Splits:
    """Splits whose image i (counting train, then val, then test) is filled with the value i, so every image
    a run touches can be named."""
    def split(first: int, n: int) -> Split:
        ids = torch.arange(first, first + n, dtype=torch.uint8)
        return Split(ids.view(-1, 1, 1, 1).expand(n, 3, 32, 32).contiguous(), ids.long() % 10)
    return Splits(split(0, train), split(train, val), split(train + val, test), {})


def test_training_on_the_validation_split_uses_exactly_train_and_val_and_never_a_test_image():
    data = numbered_splits(train=12, val=4, test=6)

    def image_ids(x):  # undo normalize() on channel 0: x = (pixel / 255 - mean) / std
        return [round(float(v)) for v in (x[:, 0, 0, 0] * STD[0] + MEAN[0]) * 255]

    ids = []

    def record(module, inputs):  # the training steps' images, augmentation switched off in recipe()
        if module.training:
            ids.extend(image_ids(inputs[0]))

    model = build_seeded(MODEL, 0)
    model.register_forward_pre_hook(record)
    result = train(model, data, recipe(epochs=2, batch_size=4, train_on_validation=True), device=CPU)
    # 16 images, batches of 4: every image of train + val exactly once per epoch, none of the test images.
    assert sorted(ids) == sorted(list(range(16)) * 2)
    assert [(row["val_loss"], row["val_acc"]) for row in result.history] == [(None, None)] * 2
    assert len(result.test.labels) == 6
    train_split, val_split, test_split = run_splits(data, recipe(train_on_validation=True, train_subset=14))
    assert train_split.images[:, 0, 0, 0].tolist() == list(range(14)) and len(val_split) == 0
    assert test_split.images[:, 0, 0, 0].tolist() == list(range(16, 22))
    # Without the switch: the training split only, validated on the validation split.
    held_out = run_splits(data, recipe())
    assert held_out[0].images[:, 0, 0, 0].tolist() == list(range(12))
    assert held_out[1].images[:, 0, 0, 0].tolist() == list(range(12, 16))


@needs_no_cuda
def test_the_gpu_check_says_in_one_line_that_there_is_no_gpu():
    result = subprocess.run(["bash", str(ROOT / "tools/gpu_check.sh"), "unused"], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("gpu_check: no CUDA device visible") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stdout + result.stderr and not (ROOT / "unused").exists()


@needs_no_cuda
def test_the_gpu_study_command_says_in_one_line_that_there_is_no_gpu(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "tools/gpu_study.sh"), str(tmp_path / "out")], capture_output=True,
                            text=True, env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert result.returncode == 1 and not (tmp_path / "out").exists()
    assert result.stderr.startswith("gpu_study: no CUDA device visible") and len(result.stderr.splitlines()) == 1


def test_the_gpu_check_runs_end_to_end_in_smoke_mode(tmp_path):
    """The check's phases on a small network and random images, on CPU: it cannot rot between GPU runs."""
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "measure", str(out),
                             "--deadline", "0", "--smoke", "--device", "cpu"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert [row["compile"] for row in report["throughput"]] == ["off", "default", "reduce-overhead", "off"]
    assert all(row["steady_epoch_seconds"] > 0 and row["compiled"] is False for row in report["throughput"])
    assert report["stage4_recipe_run"]["epochs"] == 2 and 0 <= report["stage4_recipe_run"]["test_accuracy"] <= 1
    assert report["profile"]["steps"] >= 1 and report["full_profile_estimate"]["stage4_hours"] > 0
    assert {p.name for p in out.iterdir()} == {"gpu_check.json", "throughput.csv", "stage4_history.csv", "profile.csv"}
