"""Which device a run trains on and what runs there, on CPU with GPU availability mocked: auto picks CUDA,
then MPS, then the CPU; MPS trains eager, in fp32 and the contiguous layout; a profile meant for a GPU
never falls back to the CPU without runtime.device=cpu, and says how long the CPU would take."""
from __future__ import annotations

import re

import pytest
import torch

from cifar10_study.core.errors import ConfigError, StudyError
from cifar10_study.core.layout import RunFiles
from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.training import device as device_module
from cifar10_study.training.compilation import TrainForward
from cifar10_study.training.cpu_guard import duration, refuse_cpu_training
from cifar10_study.training.device import (
    autocast,
    device_type_for,
    init_device,
    settings_for,
    to_memory_format,
    why_no_gpu,
)
from cifar10_study.training.distributed import World
from cifar10_study.training.optimizers import make_optimizer
from cifar10_study.training.recipe import OptimizerConfig, TrainConfig
from cifar10_study.training.runtime import RuntimeConfig
from cifar10_study.training.train_run import build_seeded, train_run
from helpers import learnable_splits

CPU, MPS, CUDA = torch.device("cpu"), torch.device("mps"), torch.device("cuda", 0)
MODEL = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)
RECIPE = TrainConfig.model_validate({"epochs": 200, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05},
                                     "schedule": {"name": "cosine"}})


def gpus(monkeypatch, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(device_module, "mps_available", lambda: mps)


@pytest.mark.parametrize("cuda, mps, picked", [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"),
                                               (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_the_cpu(monkeypatch, cuda, mps, picked):
    gpus(monkeypatch, cuda, mps)
    assert device_type_for("auto") == picked
    assert device_type_for("cpu") == "cpu"


def test_mps_is_accepted_where_torch_sees_it_and_a_one_line_error_elsewhere(monkeypatch):
    assert RuntimeConfig(device="mps").device == "mps"
    gpus(monkeypatch, cuda=False, mps=True)
    assert init_device(RuntimeConfig(device="mps")) == MPS
    with pytest.raises(ConfigError, match="^runtime.processes > 1 needs CUDA or the CPU.*set runtime.processes to 1$"):
        init_device(RuntimeConfig(device="mps"), World(rank=0, size=2, local_rank=0))
    gpus(monkeypatch, cuda=False, mps=False)
    with pytest.raises(ConfigError, match="^runtime.device is mps, but torch sees no MPS device.*auto or cpu$"):
        init_device(RuntimeConfig(device="mps"))


def test_each_device_gets_its_layout_precision_compilation_and_optimiser_kernels():
    model = build_seeded(MODEL, 0)
    batch = torch.zeros(2, 3, 32, 32)
    # MPS: eager, fp32, contiguous, the default optimiser kernels
    assert TrainForward(model, "reduce-overhead", MPS).mode == "off"
    assert isinstance(autocast(MPS), type(autocast(CPU))) and settings_for(MPS).autocast_dtype is None
    assert to_memory_format(batch, MPS).is_contiguous()
    assert not make_optimizer(model, OptimizerConfig(name="sgd", lr=0.1), MPS).defaults.get("fused")
    # CPU: channels_last, fp32, eager, deterministic
    assert to_memory_format(batch, CPU).is_contiguous(memory_format=torch.channels_last)
    assert TrainForward(model, "reduce-overhead", CPU).mode == "off" and settings_for(CPU).deterministic
    # CUDA: what the CUDA tests check in use (bf16 autocast, channels_last, compiled, fused)
    cuda = settings_for(CUDA)
    assert (cuda.autocast_dtype, cuda.channels_last, cuda.compiles, cuda.fused_optimizer) == (
        torch.bfloat16, True, True, True)


def test_why_no_gpu_tells_a_cpu_only_torch_from_a_cuda_build_that_finds_no_device(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    assert "is a CPU-only build" in why_no_gpu()
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    assert ", a CUDA 12.8 build, finds no CUDA device (check the driver with nvidia-smi" in why_no_gpu()


@pytest.mark.parametrize("profile", ["full", "preview"])
def test_a_gpu_profile_does_not_train_on_the_cpu_by_default_and_says_how_long_it_would_take(monkeypatch, profile):
    gpus(monkeypatch, cuda=False, mps=False)
    model = build_seeded(MODEL, 0)
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(StudyError) as error:
        refuse_cpu_training("stage4/seed_0", profile, RuntimeConfig(), CPU, model, RECIPE, train_images=50_000)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"stage4/seed_0: the {profile} profile is meant for a GPU, but this torch")
    assert re.search(r"so it would train on the CPU: about [\d.]+ (s|min|h|days) here \(200 epochs x 1562 steps at "
                     r"[\d.]+ s a step, measured on this CPU\)", message), message
    assert message.endswith("or set runtime.device=cpu to train on the CPU anyway")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))  # timed on a copy


def test_the_cpu_trains_where_the_user_insists_or_the_profile_is_sized_for_it():
    model = build_seeded(MODEL, 0)
    refuse_cpu_training("r", "full", RuntimeConfig(device="cpu"), CPU, model, RECIPE, 50_000)
    refuse_cpu_training("r", "quick", RuntimeConfig(), CPU, model, RECIPE, 50_000)
    refuse_cpu_training("r", "smoke", RuntimeConfig(), CPU, model, RECIPE, 50_000)
    refuse_cpu_training("r", "full", RuntimeConfig(), MPS, model, RECIPE, 50_000)  # auto found Apple's GPU


def test_a_run_at_the_full_profile_stops_before_training_and_writes_nothing(tmp_path):
    files = RunFiles(tmp_path / "run")
    with pytest.raises(StudyError, match="set runtime.device=cpu to train on the CPU anyway$"):
        train_run("demo", MODEL, RECIPE, learnable_splits(), profile="full", device=CPU, files=files)
    assert not files.folder.exists()
    recipe = RECIPE.model_copy(update={"epochs": 1})
    run = train_run("demo", MODEL, recipe, learnable_splits(), profile="full", device=CPU, files=files,
                    runtime=RuntimeConfig(device="cpu"))
    assert files.results.exists() and run.results["epochs"] == 1


def test_durations_read_in_the_largest_fitting_unit():
    assert [duration(s) for s in (45, 720, 3.5 * 3600, 3 * 86400)] == ["45 s", "12 min", "3.5 h", "3.0 days"]
