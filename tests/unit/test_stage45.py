"""Stages 4 and 5: ResNet-18 and SE-ResNet-18 as specified, CUDA-only options on CPU, training under MixUp,
seeds and their summary, the Stage 5 switches, and the comparisons the report draws from the files."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from cifar10_study.analysis.comparisons import SeededRuns, compare
from cifar10_study.experiments import stage4, stage5
from cifar10_study.models.residual import Block, ResidualCNNConfig, ResNet18Config, SqueezeExcite
from cifar10_study.params import load_params
from cifar10_study.training.compilation import TrainForward
from cifar10_study.training.device import autocast, use_precision
from cifar10_study.training.engine import train
from cifar10_study.training.measure import count_parameters
from cifar10_study.training.optimizers import make_optimizer
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.runtime import RuntimeConfig
from cifar10_study.training.train_run import build_seeded, train_run
from helpers import ROOT, learnable_splits, train_epoch_with

CPU = torch.device("cpu")


def conv(i, o, k=3):
    return k * k * i * o  # no bias: batch norm follows


def bn(c):
    return 2 * c


def resnet18_count(se_reduction=None) -> int:
    """ResNet-18 (CIFAR) parameters from its definition: stem, 4 stages x 2 BasicBlocks, 1x1 projection
    shortcuts where the shape changes, linear head; SE adds C -> C/r -> C 1x1 convs with biases per block."""
    total, c_in = conv(3, 64) + bn(64), 64
    for c in (64, 128, 256, 512):
        for b in range(2):
            total += conv(c_in, c) + bn(c) + conv(c, c) + bn(c)
            if c_in != c:
                total += conv(c_in, c, k=1) + bn(c)
            if se_reduction:
                h = c // se_reduction
                total += c * h + h + h * c + c
            c_in = c
    return total + 512 * 10 + 10


def test_resnet18_has_the_published_parameter_count_and_shape():
    model = ResNet18Config(name="resnet18").build()
    assert count_parameters(model) == resnet18_count() == 11_173_962
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    stem = model.stem[0][0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)  # CIFAR variant: no 7x7/2 stem, no max-pool
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert sum(isinstance(m, Block) for m in model.modules()) == 8


def test_se_resnet18_adds_exactly_the_se_parameters():
    model = ResNet18Config(name="resnet18", se_reduction=16).build()
    assert count_parameters(model) == resnet18_count(16) == 11_173_962 + 89_080
    assert sum(isinstance(m, SqueezeExcite) for m in model.modules()) == 8


def test_se_gates_lie_in_0_1_keep_the_shape_and_scale_channels():
    torch.manual_seed(0)
    se = SqueezeExcite(32, 4)
    x = torch.randn(5, 32, 8, 8) * 10
    gates = se.gates(x)
    assert gates.shape == (5, 32, 1, 1) and bool(((gates > 0) & (gates < 1)).all())
    out = se(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x * gates)


def test_a_few_steps_on_a_tiny_batch_reduce_the_loss():
    torch.manual_seed(0)
    model = ResNet18Config(name="resnet18", se_reduction=16).build()
    x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(5):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 2, losses
    assert all(p.grad is not None for p in model.parameters())


# --- CUDA-only options, training accuracy under MixUp, seeds ------------------------------------------

def recipe(**kw) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "schedule": {"name": "cosine"}, "augment": {"crop_padding": 0, "flip": False}}
    return TrainConfig.model_validate({**base, **kw})


SMALL = ResidualCNNConfig(name="residual_cnn", channels=[8, 16], se_reduction=4)


def test_cuda_only_options_are_skipped_cleanly_on_cpu():
    model = torch.nn.Linear(2, 2)
    forward = TrainForward(model, "reduce-overhead", CPU)
    assert forward.mode == "off" and forward(torch.ones(1, 2)).shape == (1, 2)
    assert "fused" not in make_optimizer(model, recipe().optimizer, CPU).defaults or \
        not make_optimizer(model, recipe().optimizer, CPU).defaults["fused"]
    use_precision("fp32")
    with autocast(CPU):  # fp32 asked for: autocast is not entered
        assert not torch.is_autocast_enabled("cpu") and model(torch.ones(1, 2)).dtype == torch.float32
    result = train(build_seeded(SMALL, 0), learnable_splits(), recipe(), device=CPU,
                   runtime=RuntimeConfig(compile="default", check_syncs=True))
    assert result.compiled is False and result.compile == {"mode": "off", "graphs": 0, "graph_breaks": 0,
                                                           "cudagraph_skips": 0}
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


class AlwaysClass(torch.nn.Module):
    """Predicts class `c` for every image (a trainable bias, so the optimiser has something to step)."""

    def __init__(self, c: int):
        super().__init__()
        self.logits = torch.nn.Parameter(10 * F.one_hot(torch.tensor(c), 10).float())

    def forward(self, x):
        return self.logits.expand(len(x), 10) + 0 * x.mean()


def test_training_accuracy_under_mixup_counts_the_dominant_label():
    def mix_towards_class_3(images, labels):  # 0.3 of the image's own label, 0.7 of class 3: dominant is 3
        return images, 0.3 * F.one_hot(labels, 10).float() + 0.7 * F.one_hot(torch.full_like(labels, 3), 10).float()

    data = learnable_splits()
    stats = train_epoch_with(AlwaysClass(3), data.train, recipe(epochs=1, optimizer={"name": "sgd", "lr": 1e-6}),
                             mix_towards_class_3)
    assert stats.accuracy == 1.0  # against the dominant label
    assert (data.train.labels == 3).float().mean() < 0.2  # against the images' own labels it would be ~0.1


def test_seeds_give_one_run_each_and_a_summary_with_mean_and_std(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained = [train_run(f"stagex/seed_{s}", SMALL, recipe(test_subset=40, seed=s), learnable_splits(),
                         profile="smoke", device=CPU, predictions=True) for s in (3, 7)]
    per_seed = [json.loads((tmp_path / f"runs/stagex/seed_{s}/info.json").read_text()) for s in (3, 7)]
    assert [m["provenance"]["seed"] for m in per_seed] == [3, 7] == [r.info["provenance"]["seed"] for r in trained]
    accs = [json.loads((tmp_path / f"runs/stagex/seed_{s}/results.json").read_text())["test_accuracy"] for s in (3, 7)]
    assert len(pd.read_csv(tmp_path / "runs/stagex/seed_3/predictions.csv")) == 40
    # The analysis reads these files back: mean and std over seeds, and comparisons.
    runs = SeededRuns.load("stagex", [3, 7])
    summary = runs.summary
    assert summary["test_accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert summary["test_accuracy"]["std"] == pytest.approx(np.std(accs, ddof=1))
    assert summary["test_images"] == 40 and summary["seeds"] == [3, 7]
    assert runs.accuracy == {3: accs[0], 7: accs[1]}
    same = compare(runs, runs)
    assert same["welch"]["difference"] == 0 and same["mcnemar"]["p_value"] == 1.0
    assert same["verdict"] == "no significant difference"


# --- the shipped params --------------------------------------------------------------------------------

def test_shipped_stage4_recipe_is_the_published_one():
    params = load_params(ROOT / "params.yaml")
    full = params.model_copy(update={"profile": "full"})
    cfg = stage4.recipe(full)
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.momentum,
            cfg.optimizer.weight_decay, cfg.schedule.name) == (200, 128, "sgd", 0.1, 0.9, 5e-4, "cosine")
    assert (cfg.augment.crop_padding, cfg.augment.flip, cfg.augment.cutout, cfg.mixup_alpha) == (4, True, 0, 0)
    assert cfg.train_subset is None and cfg.test_subset is None
    assert len(stage4.seeds(full)) == 3 and len(stage4.seeds(params.model_copy(update={"profile": "quick"}))) == 1


@pytest.mark.parametrize("ablation,model_se,mixup,cutout", [
    (None, 16, 1.0, 16), ("no_se", None, 1.0, 16), ("no_mixup", 16, 0.0, 16), ("no_cutout", 16, 1.0, 0)])
def test_each_stage5_ablation_turns_exactly_one_component_off(ablation, model_se, mixup, cutout):
    params = load_params(ROOT / "params.yaml")
    values = stage5.switches(params, ablation)
    assert stage5.model_config(params, values).se_reduction == model_se
    cfg = stage5.recipe(params, values)
    assert (cfg.mixup_alpha, cfg.augment.cutout) == (mixup, cutout)
    # Everything else is Stage 4's recipe.
    base = stage4.recipe(params).model_dump()
    assert {k: v for k, v in cfg.model_dump().items() if k not in ("mixup_alpha", "augment")} == \
        {k: v for k, v in base.items() if k not in ("mixup_alpha", "augment")}


def test_an_unknown_stage5_ablation_is_a_clear_error():
    with pytest.raises(Exception, match="unknown stage5 ablation 'no_dropout'; valid: no_se, no_mixup, no_cutout"):
        stage5.switches(load_params(ROOT / "params.yaml"), "no_dropout")
