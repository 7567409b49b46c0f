"""Which device a run trains on and what runs there, on CPU with GPU availability mocked: auto picks CUDA,
then MPS, then the CPU; MPS trains eager, in fp32 and the contiguous layout; the CPU trains in bf16 exactly
where it has bf16 instructions and `precision` is auto, reproducibly, and records it; a profile meant for a
GPU never falls back to the CPU without runtime.device=cpu, and says how long the CPU would take."""
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
    autocast_dtype,
    cpu_bf16_instructions,
    device_type_for,
    init_device,
    settings_for,
    to_memory_format,
    use_precision,
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
    assert autocast_dtype(MPS) is None and not isinstance(autocast(MPS), torch.autocast)
    assert to_memory_format(batch, MPS).is_contiguous()
    assert not make_optimizer(model, OptimizerConfig(name="sgd", lr=0.1), MPS).defaults.get("fused")
    # CPU: channels_last, eager, deterministic (its precision: the tests below)
    assert to_memory_format(batch, CPU).is_contiguous(memory_format=torch.channels_last)
    assert TrainForward(model, "reduce-overhead", CPU).mode == "off" and settings_for(CPU).deterministic
    # CUDA: what the CUDA tests check in use (bf16 autocast, channels_last, compiled, fused)
    cuda = settings_for(CUDA)
    assert (autocast_dtype(CUDA), cuda.channels_last, cuda.compiles, cuda.fused_optimizer) == (
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


def cpu_instructions(monkeypatch, *names: str) -> None:
    capabilities = {"amx_bf16": False, "avx512_bf16": False, **{name: True for name in names}}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)


@pytest.mark.parametrize("instructions", [(), ("avx512_bf16",), ("amx_bf16", "avx512_bf16")])
def test_the_cpu_uses_bf16_exactly_where_it_has_bf16_instructions_and_precision_is_auto(monkeypatch, instructions):
    cpu_instructions(monkeypatch, *instructions)
    assert cpu_bf16_instructions() == list(instructions)
    assert autocast_dtype(CPU, "auto") == (torch.bfloat16 if instructions else None)
    assert autocast_dtype(CPU, "fp32") is None
    assert autocast_dtype(CUDA, "auto") == torch.bfloat16 and autocast_dtype(CUDA, "fp32") is None
    assert autocast_dtype(MPS, "auto") is None


def test_init_device_sets_the_precision_of_every_later_autocast(monkeypatch):
    cpu_instructions(monkeypatch, "avx512_bf16")
    init_device(RuntimeConfig(device="cpu"), precision="fp32")
    assert autocast_dtype(CPU) is None and not torch.is_autocast_enabled("cpu")
    with autocast(CPU):
        assert not torch.is_autocast_enabled("cpu")
    init_device(RuntimeConfig(device="cpu"), precision="auto")
    with autocast(CPU):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def train_tiny(tmp_path, name: str):
    return train_run(name, MODEL, RECIPE.model_copy(update={"epochs": 1}), learnable_splits(128, 32, 32),
                     profile="smoke", device=CPU, files=RunFiles.of(name, tmp_path))


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_a_cpu_run_records_its_precision_and_repeats_exactly(tmp_path, precision):
    # `auto` trains in bf16 on a CPU with bf16 instructions, so there this exercises the bf16 path.
    use_precision(precision)
    first = train_tiny(tmp_path, "a")
    train_tiny(tmp_path, "b")
    expected = "bf16 autocast" if precision == "auto" and cpu_bf16_instructions() else "fp32"
    record = first.info["provenance"]
    assert (record["precision"], record["precision_setting"]) == (expected, precision)
    assert record["cpu_bf16_instructions"] == cpu_bf16_instructions()
    assert (tmp_path / "a" / "results.json").read_bytes() == (tmp_path / "b" / "results.json").read_bytes()
    assert (tmp_path / "a" / "weights.pt").read_bytes() == (tmp_path / "b" / "weights.pt").read_bytes()
    assert (tmp_path / "a" / "history.csv").read_bytes() == (tmp_path / "b" / "history.csv").read_bytes()


@pytest.mark.skipif(not cpu_bf16_instructions(), reason="this CPU has no bf16 instructions")
def test_bf16_and_fp32_runs_differ_where_the_cpu_has_bf16(tmp_path):
    use_precision("auto")
    bf16 = train_tiny(tmp_path, "bf16").results
    use_precision("fp32")
    fp32 = train_tiny(tmp_path, "fp32").results
    assert bf16["test_loss"] != fp32["test_loss"]


def test_the_cpu_guard_times_a_step_in_the_precision_the_run_would_train_in(monkeypatch):
    from cifar10_study.training.cpu_guard import step_seconds

    seen = []
    model = build_seeded(MODEL, 0)
    model.register_forward_pre_hook(lambda module, args: seen.append(torch.is_autocast_enabled("cpu")))
    monkeypatch.setattr(device_module, "cpu_bf16_instructions", lambda: ["avx512_bf16"])
    for precision, bf16 in (("auto", True), ("fp32", False)):
        use_precision(precision)
        seen.clear()
        step_seconds(model, RECIPE.model_copy(update={"batch_size": 4}), CPU)
        assert seen and set(seen) == {bf16}, precision


def test_the_explosion_tests_measuring_process_runs_in_the_stages_precision(monkeypatch):
    """The measurement runs in a spawned process, which starts at the default precision: it is handed the
    stage's, and sets it before anything else."""
    from cifar10_study.experiments import stress_tests

    class InProcess:  # the pool, run here, keeping what it was handed
        handed: tuple = ()

        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, *args):
            InProcess.handed = args
            from concurrent.futures import Future
            future = Future()
            future.set_result(fn(*args))
            return future

    monkeypatch.setattr(stress_tests, "ProcessPoolExecutor", InProcess)
    use_precision("fp32")
    recipe = RECIPE.model_copy(update={"epochs": 1})
    stress_tests.measure_step(MODEL, recipe, 8, learnable_splits(64, 16, 16), CPU)
    assert InProcess.handed[-1] == "fp32"
    use_precision("auto")
    stress_tests._measure(MODEL, recipe.model_copy(update={"epochs": 2, "batch_size": 8, "train_subset": 16}),
                          learnable_splits(64, 16, 16), CPU, "fp32")
    assert device_module._precision == "fp32"  # set first in the (here: this) process
