"""The CUDA path, wherever a GPU exists: `pytest -m cuda` runs these; without CUDA they are skipped.

They run the engine as the stages run it on a GPU (cuDNN autotuning, bf16 autocast, channels_last,
fused SGD, torch.compile, on-device augmentation and divergence watch) on tiny learnable data, and check
what CPU tests cannot: that it compiles for real, never synchronises with the host inside an epoch,
resumes exactly, stops a NaN run, and evaluates as a plain eager model does.
`tools/gpu_check.sh` runs them first and records the result.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cifar10_study.core.errors import TrainingDiverged
from cifar10_study.data.augment import normalize
from cifar10_study.data.cifar10 import Split, Splits
from cifar10_study.experiments.stress_tests import measure_step
from cifar10_study.models.residual import ResidualCNNConfig
from cifar10_study.training.checkpoint import Checkpoint
from cifar10_study.training.engine import train
from cifar10_study.training.evaluation import evaluate
from cifar10_study.training.optimizers import make_optimizer
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.recorders import StepRecorder
from cifar10_study.training.runtime import RuntimeConfig
from cifar10_study.training.train_run import build_seeded
from helpers import PoisonAfter, flat_linear, learnable_splits

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

CUDA = torch.device("cuda")
# A residual CNN with batch norm and SE: every layer type of (SE-)ResNet-18, small enough to compile fast.
SE_NET = ResidualCNNConfig(name="residual_cnn", channels=[16, 32], se_reduction=4)
EAGER = RuntimeConfig(compile="off")
COMPILED = RuntimeConfig(compile_min_parameters=0)  # SE_NET is small: compile it anyway (the default mode)


@pytest.fixture(autouse=True)
def as_the_stages_run_on_cuda():
    """conftest makes every op deterministic for the CPU tests; a CUDA stage runs autotuned instead."""
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True
    yield
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def on_cuda(data: Splits) -> Splits:
    moved = [Split(s.images.to(CUDA), s.labels.to(CUDA)) for s in (data.train, data.val, data.test)]
    return Splits(*moved, meta=data.meta)


def recipe(**kw) -> TrainConfig:
    """Stage 5's ingredients on tiny data: SGD + momentum, cosine, crop + flip, Cutout and MixUp."""
    base = {"epochs": 2, "batch_size": 128, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "schedule": {"name": "cosine"}, "augment": {"crop_padding": 4, "flip": True, "cutout": 8},
            "mixup_alpha": 1.0}
    return TrainConfig.model_validate({**base, **kw})


@pytest.fixture(scope="module")
def data() -> Splits:
    return on_cuda(learnable_splits(n_train=1024, n_val=256, n_test=512))


def without_times(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in history]


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_two_compiled_epochs_with_se_mixup_cutout_compile_and_never_sync(data, mode):
    recorder = StepRecorder()
    result = train(build_seeded(SE_NET, 0), data, recipe(), device=CUDA, run=f"compile-{mode}",
                   runtime=RuntimeConfig(compile=mode, compile_min_parameters=0, check_syncs=True),
                   on_backward=(recorder,))
    # Dynamo really produced graphs (not a silent eager fallback), in one piece, and CUDA graphs were used.
    assert result.compiled and result.compile["graphs"] >= 1, result.compile
    assert result.compile["graph_breaks"] == 0 and result.compile["cudagraph_skips"] == 0, result.compile
    assert len(result.history) == 2 and all(torch.isfinite(torch.tensor(r["train_loss"])) for r in result.history)
    assert result.warmup_seconds is not None and result.steady_epoch_seconds > 0
    assert len(recorder.frame()) == 2 * (1024 // 128)  # the recorder saw every step, synced once
    assert 0.0 <= result.test.accuracy <= 1.0 and len(result.test.predictions) == 512


def test_a_second_compiled_run_in_the_same_process_counts_its_own_graphs(data):
    runs = [train(build_seeded(SE_NET, seed), data, recipe(epochs=1), device=CUDA, runtime=COMPILED)
            for seed in (0, 1)]
    assert [r.compile["graphs"] >= 1 for r in runs] == [True, True]
    eager = train(build_seeded(SE_NET, 0), data, recipe(epochs=1), device=CUDA, runtime=EAGER)
    assert not eager.compiled and eager.compile["graphs"] == 0


def test_by_default_a_small_network_trains_eager(data):
    small = train(build_seeded(SE_NET, 0), data, recipe(epochs=1), device=CUDA, runtime=RuntimeConfig())
    assert not small.compiled and small.compile["mode"] == "off"  # below runtime.compile_min_parameters


def test_eager_epochs_never_sync_with_the_host(data):
    # Every epoch but the first (cuDNN autotuning) runs under torch.cuda.set_sync_debug_mode("error").
    result = train(build_seeded(SE_NET, 0), data, recipe(epochs=3), device=CUDA,
                   runtime=RuntimeConfig(compile="off", check_syncs=True), on_backward=(StepRecorder(),))
    assert len(result.history) == 3


def test_the_sync_check_catches_a_sync(data):
    def syncs(step, model, loss):
        loss.item()  # a host read of a device value: what the engine must never do per step

    with pytest.raises(RuntimeError, match="synchroniz"):
        train(build_seeded(SE_NET, 0), data, recipe(), device=CUDA,
              runtime=RuntimeConfig(compile="off", check_syncs=True), on_backward=(syncs,))


def test_channels_last_bf16_and_fused_sgd_are_in_use(data):
    seen = {}
    model = build_seeded(SE_NET, 0)
    first_conv = model.stem[0][0]

    def record(module, inputs, output):
        if module.training:
            seen.update(input_channels_last=inputs[0].is_contiguous(memory_format=torch.channels_last),
                        output_dtype=output.dtype)

    first_conv.register_forward_hook(record)
    train(model, data, recipe(epochs=1), device=CUDA, runtime=EAGER, evaluate_test=False)
    assert seen == {"input_channels_last": True, "output_dtype": torch.bfloat16}
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert make_optimizer(model, recipe().optimizer, CUDA).defaults["fused"] is True


def test_the_divergence_watch_stops_a_nan_run_on_the_device(data):
    # 8 steps per epoch; the 11th training forward (epoch 2, step 3) turns NaN. The device-side watch
    # records the first bad step and the engine raises at that epoch's end, naming it.
    with pytest.raises(TrainingDiverged) as err:
        train(PoisonAfter(flat_linear(), after=11), data, recipe(epochs=4, mixup_alpha=0.0), device=CUDA,
              runtime=EAGER, run="boom")
    assert (err.value.epoch, err.value.step) == (2, 11)


def brightness_splits(n: int = 1024) -> Splits:
    """Images whose class sets their brightness (25 per class, plus noise): a global-average-pooled
    network learns it in a few steps, so its predictions are confident."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = (25 * labels[:, None, None, None] + torch.randint(0, 20, (n, 3, 32, 32), generator=g)).to(torch.uint8)
    split = Split(images, labels)
    return on_cuda(Splits(split, split.head(256), split.head(512), meta={"source": "synthetic"}))


def test_evaluation_matches_a_plain_eager_fp32_evaluation():
    # A confidently trained model, so bf16 may flip only the rare image whose top two logits nearly tie.
    data = brightness_splits()
    model = build_seeded(SE_NET, 0)
    train(model, data, recipe(epochs=8, mixup_alpha=0.0, augment={"crop_padding": 0, "flip": True, "cutout": 0}),
          device=CUDA, runtime=COMPILED, evaluate_test=False)
    fast = evaluate(model, data.test, 1000, CUDA)
    model.eval()
    with torch.no_grad():  # fp32, contiguous NCHW, small batches: the plainest possible evaluation
        logits = torch.cat([model(normalize(data.test.images[i:i + 64]).contiguous()) for i in range(0, 512, 64)])
    plain_loss = F.cross_entropy(logits, data.test.labels).item()
    plain_accuracy = (logits.argmax(1) == data.test.labels).float().mean().item()
    assert plain_accuracy > 0.9  # confident (chance is 0.1)
    assert (logits.argmax(1).cpu().numpy() == fast.predictions).mean() >= 0.99
    assert abs(fast.accuracy - plain_accuracy) <= 0.01
    assert abs(fast.loss - plain_loss) <= 0.05 * plain_loss + 0.01


def test_an_interrupted_run_resumes_to_identical_metrics(data, tmp_path):
    """Kill simulated in-process: a hook stops the run in epoch 3, after epoch 2's checkpoint was written;
    a fresh model resumes from it. Deterministic kernels (as on CPU) so the two can be compared exactly."""
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    cfg = recipe(epochs=4)

    class Killed(Exception):
        pass

    def kill_in_epoch_3(step, model, loss):
        if step == 2 * (1024 // 128) + 3:
            raise Killed

    reference = train(build_seeded(SE_NET, 0), data, cfg, device=CUDA, runtime=EAGER)
    checkpoint = Checkpoint(tmp_path / "run.pt", interval_seconds=0)
    with pytest.raises(Killed):
        train(build_seeded(SE_NET, 0), data, cfg, device=CUDA, runtime=EAGER, checkpoint=checkpoint,
              on_backward=(kill_in_epoch_3,))
    assert torch.load(tmp_path / "run.pt", weights_only=True)["epoch"] == 2
    resumed = train(build_seeded(SE_NET, 0), data, cfg, device=CUDA, runtime=EAGER,
                    checkpoint=Checkpoint(tmp_path / "run.pt", interval_seconds=0))
    assert without_times(resumed.history) == without_times(reference.history)
    assert (resumed.test.predictions == reference.test.predictions).all()
    assert resumed.test.loss == reference.test.loss


def test_stress_step_measurement_times_many_steps_on_the_gpu(data):
    from cifar10_study.models.baseline import BaselineCNNConfig

    cnn = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)
    big = on_cuda(learnable_splits(n_train=50 * 32, n_val=64, n_test=64))
    measured = measure_step(cnn, recipe(mixup_alpha=0.0), 32, big, CUDA)
    assert 0 < measured["seconds_per_step"] < 1 and measured["peak_memory_bytes"] > 0
    assert measured["peak_memory_kind"] == "cuda_allocated"
