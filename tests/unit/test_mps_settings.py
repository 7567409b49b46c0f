"""Apple GPUs (MPS), as far as a CPU can check them: a short training, `evaluate` and `predict` run with MPS's
device settings (device.SETTINGS["mps"]) under a guard that sees every tensor operation, and fail on what MPS
lacks or its settings rule out: a float64 tensor (MPS has no float64), a bf16 tensor (MPS trains in fp32),
a channels_last convolution (MPS keeps the contiguous layout). On the CPU the host and the training device are one,
so the guard holds the host to the same rule: sums that need float64 are Python floats there."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from cifar10_study import evaluate, predict
from cifar10_study.core.layout import RunFiles
from cifar10_study.data.cifar10 import load_splits, prepare
from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.training import device as device_module
from cifar10_study.training.compilation import TrainForward
from cifar10_study.training.device import SETTINGS
from cifar10_study.training.optimizers import make_optimizer
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.train_run import train_run
from helpers import write_archive

CPU = torch.device("cpu")
MODEL = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)
RECIPE = TrainConfig.model_validate({
    "epochs": 2, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
    "schedule": {"name": "cosine"}, "label_smoothing": 0.1, "test_subset": 40})


# The operations the layout rule is for (MPS's channels_last convolution backward passes are slow).
CONVOLUTIONS = (torch.ops.aten.convolution.default, torch.ops.aten.convolution_backward.default)


class DeviceRules(TorchDispatchMode):
    """Records every operation that takes or makes a float64 tensor or a bf16 tensor, and every convolution
    that takes or makes a channels_last tensor (one that is not also contiguous: with one channel or a 1x1
    image both layouts are the same)."""

    def __init__(self):
        super().__init__()
        self.broken: dict[str, set[str]] = {"float64": set(), "bf16": set(), "channels_last": set()}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves((args, kwargs, out)):
            if not isinstance(t, torch.Tensor):
                continue
            if t.dtype == torch.float64:
                self.broken["float64"].add(str(func))
            if t.dtype == torch.bfloat16:
                self.broken["bf16"].add(str(func))
            if func in CONVOLUTIONS and t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(
                    memory_format=torch.channels_last):
                self.broken["channels_last"].add(str(func))
        return out


@pytest.fixture
def mps_settings(monkeypatch):
    """The CPU with MPS's settings, and a CPU that has bf16 instructions (so only the settings keep bf16 off)."""
    monkeypatch.setitem(SETTINGS, "cpu", SETTINGS["mps"])
    monkeypatch.setattr(device_module, "cpu_bf16_instructions", lambda: ["avx512_bf16"])


def test_the_guard_sees_what_it_guards_against():
    with DeviceRules() as rules:
        torch.ones(2, dtype=torch.float64).sum()
        torch.ones(2).bfloat16()
        torch.nn.functional.conv2d(torch.ones(1, 3, 4, 4).to(memory_format=torch.channels_last), torch.ones(2, 3, 1, 1))
    assert all(rules.broken.values()), rules.broken


def test_training_evaluate_and_predict_keep_to_mps_rules(mps_settings, tmp_path, capsys):
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", per_batch=60)
    prepare(str(archive), tmp_path / "prepared", val_size=50, split_seed=0, batch_images=60)
    files = RunFiles(tmp_path / "run")
    image = tmp_path / "image.png"
    Image.new("RGB", (40, 30), (200, 30, 90)).save(image)
    with DeviceRules() as rules:
        run = train_run("demo", MODEL, RECIPE, load_splits(tmp_path / "prepared"), profile="smoke", device=CPU,
                        files=files)
        evaluated = evaluate.main([str(files.folder), "--data", str(tmp_path / "prepared"), "--device", "cpu"])
        predicted = predict.main([str(files.folder), str(image)])
    assert rules.broken == {"float64": set(), "bf16": set(), "channels_last": set()}
    assert (evaluated, predicted) == (0, 0)
    assert run.info["provenance"]["precision"] == "fp32"
    assert f"(results.json: {run.results['test_accuracy']:.4f})" in capsys.readouterr().out


def test_mps_settings_train_eager_with_the_plain_optimiser(mps_settings):
    model = torch.nn.Linear(4, 2)
    assert TrainForward(model, "default", CPU).mode == "off"
    assert not make_optimizer(model, RECIPE.optimizer, CPU).defaults.get("fused")
