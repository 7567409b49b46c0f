"""The CUDA path, as far as a CPU can run it: `precision: fp32` turns TF32 off (torch's flags, set and read
without a GPU) and a CUDA run records it; and one short epoch through the engine with CUDA's settings but
the GPU itself (channels_last, bf16 autocast, torch.compile through the inductor, which compiles for the CPU
here, the fused optimiser, the step tallies read once an epoch) matches the same epoch run eagerly with the
plain optimiser, so a change that breaks compilation fails here rather than on a GPU user's first run."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from cifar10_study.training import device as device_module
from cifar10_study.training.device import SETTINGS, init_device, precision_record
from cifar10_study.training.engine import train
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.runtime import RuntimeConfig
from helpers import learnable_splits

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def fake_gpu(monkeypatch):
    """torch sees a CUDA device (init_device's own calls to it are stubbed); its global flags are restored."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)


def tf32_flags() -> tuple[str, str]:
    return torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision


def test_fp32_turns_tf32_off_for_matmuls_and_convolutions_and_a_cuda_run_records_it(fake_gpu):
    shipped = tf32_flags()
    assert shipped[1] == "tf32"  # torch lets cuDNN convolutions use TF32 unless told otherwise
    assert init_device(RuntimeConfig(device="cuda"), precision="fp32") == torch.device("cuda", 0)
    assert tf32_flags() == ("ieee", "ieee")
    assert precision_record(CUDA) == {"precision": "fp32", "precision_setting": "fp32",
                                      "tf32": {"matmul": "ieee", "cudnn_conv": "ieee"}}
    init_device(RuntimeConfig(device="cuda"), precision="auto")
    assert tf32_flags() == shipped
    assert precision_record(CUDA)["tf32"] == {"matmul": shipped[0], "cudnn_conv": shipped[1]}


class TinyCNN(nn.Module):
    """One convolution, pooling and a linear layer: every kind of kernel the engine compiles, compiled fast."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.features(x))


RECIPE = TrainConfig.model_validate({
    "epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
    "schedule": {"name": "cosine"}, "label_smoothing": 0.1})
# bf16 autocast on both sides, and inductor fuses and reorders the compiled run's arithmetic. Measured over these
# 4 steps (2-core Xeon, torch 2.14.1): 1e-5 relative on the loss, 3e-5 on the largest weight difference; a
# wrong gradient or a dropped step moves weights by about lr x gradient, 1e-2 and more.
LOSS_TOLERANCE = 1e-3  # relative, on the epoch's mean training loss
WEIGHT_TOLERANCE = 1e-3  # absolute, on any weight or batch-norm statistic after the epoch


def one_epoch(settings: device_module.DeviceSettings, compile_mode: str, monkeypatch) -> tuple[dict, nn.Module]:
    monkeypatch.setitem(SETTINGS, "cpu", settings)
    torch.manual_seed(0)
    model = TinyCNN()
    result = train(model, learnable_splits(128, 32, 32), RECIPE, device=CPU, evaluate_test=False,
                   runtime=RuntimeConfig(device="cpu", compile=compile_mode, compile_min_parameters=0))
    return {"loss": result.history[-1]["train_loss"], "compiled": result.compiled, **result.compile}, model


def test_an_epoch_with_cudas_settings_compiled_matches_it_eager(monkeypatch):
    cuda_on_cpu = SETTINGS["cuda"]
    eager_settings = dataclasses.replace(cuda_on_cpu, compiles=False, fused_optimizer=False)
    torch.use_deterministic_algorithms(False)  # as on CUDA (inductor's CPU kernels are not covered by it)
    try:
        compiled, compiled_model = one_epoch(cuda_on_cpu, "default", monkeypatch)
        eager, eager_model = one_epoch(eager_settings, "default", monkeypatch)
    finally:
        torch.use_deterministic_algorithms(True)
    assert compiled["compiled"] and compiled["graphs"] >= 1 and compiled["graph_breaks"] == 0
    assert not eager["compiled"]
    assert compiled["loss"] == pytest.approx(eager["loss"], rel=LOSS_TOLERANCE)
    for (name, a), b in zip(compiled_model.state_dict().items(), eager_model.state_dict().values()):
        if a.is_floating_point():
            assert a.is_contiguous(memory_format=torch.channels_last) or a.dim() != 4, name
            torch.testing.assert_close(a, b, atol=WEIGHT_TOLERANCE, rtol=0, msg=name)
