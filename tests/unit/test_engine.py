"""The shared training loop: it learns, it is deterministic on CPU, schedules are right, failures are clear."""
import math

import pandas as pd
import pytest
import torch
from torch import nn

from cifar10_study.analysis.outputs import TIMING_KEYS
from cifar10_study.core.errors import ConfigError, StudyError, TrainingDiverged
from cifar10_study.core.fileio import read_json
from cifar10_study.core.layout import RESULT_KEYS, RunFiles
from cifar10_study.data import CLASSES
from cifar10_study.data.augment import MixUp, TrainAugment, normalize
from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.training.device import to_memory_format
from cifar10_study.training.engine import StepFunctions, train, train_one_epoch
from cifar10_study.training.evaluation import evaluate
from cifar10_study.training.optimizers import make_optimizer, make_scheduler
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.state import TrainState
from cifar10_study.training.train_run import build_seeded, load_weights, train_run
from helpers import PoisonAfter, flat_linear, learnable_splits

CPU = torch.device("cpu")
MODEL = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)


def recipe(**kw) -> TrainConfig:
    base = {"epochs": 3, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "schedule": {"name": "cosine"}, "augment": {"crop_padding": 0, "flip": False}, "seed": 0}
    return TrainConfig.model_validate({**base, **kw})


def test_training_learns_a_learnable_task():
    data = learnable_splits()
    model = build_seeded(MODEL, 0)
    before = evaluate(model, data.val, 64, CPU)
    result = train(model, data, recipe(epochs=4), device=CPU)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.history[-1]["val_acc"] > before.accuracy + 0.3
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    assert set(result.history[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_seconds"}
    assert result.images_seen == 4 * (256 // 32) * 32 and result.images_per_second > 0
    assert len(result.test.predictions) == 64


def test_same_seed_same_metrics_other_seed_other_metrics():
    data = learnable_splits()
    cfg = recipe(augment={"crop_padding": 4, "flip": True})
    runs = [train(build_seeded(MODEL, s), data, recipe(**{**cfg.model_dump(), "seed": s}), device=CPU)
            for s in (0, 0, 1)]
    strip = lambda r: [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in r.history]
    assert strip(runs[0]) == strip(runs[1])
    assert (runs[0].test.predictions == runs[1].test.predictions).all()
    assert strip(runs[0]) != strip(runs[2])


def test_cosine_reaches_its_minimum_exactly_after_the_last_step():
    model = nn.Linear(2, 2)
    cfg = recipe(schedule={"name": "cosine", "min_lr": 0.001})
    opt = make_optimizer(model, cfg.optimizer, CPU)
    sched = make_scheduler(opt, cfg.schedule, epochs=3, steps_per_epoch=5)
    lrs = []
    for _ in range(15):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.05)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))  # strictly decreasing
    assert opt.param_groups[0]["lr"] == pytest.approx(0.001, abs=1e-12)
    assert min(lrs) > 0.001


def onecycle_by_hand(total: int, max_lr: float, pct_start: float) -> list[float]:
    """The lr at steps 0..total-1 of a one-cycle schedule (torch's cosine OneCycleLR defaults): from
    max_lr / 25 up to max_lr at step pct_start * total - 1, then down to max_lr / 25 / 1e4 at the last step."""
    start, low, peak = max_lr / 25, max_lr / 25 / 1e4, pct_start * total - 1

    def anneal(a: float, b: float, fraction: float) -> float:  # cosine from a (fraction 0) to b (fraction 1)
        return b + (a - b) / 2 * (1 + math.cos(math.pi * fraction))

    return [anneal(start, max_lr, t / peak) if t <= peak else anneal(max_lr, low, (t - peak) / (total - 1 - peak))
            for t in range(total)]


@pytest.mark.parametrize("schedule,check", [
    ({"name": "constant"}, lambda lrs: set(lrs) == {0.05}),
    ({"name": "step", "milestones": [1 / 3, 2 / 3], "gamma": 0.5},
     lambda lrs: lrs[:4] == [0.05] * 4 and lrs[4] == pytest.approx(0.025) and lrs[8] == pytest.approx(0.0125)),
    ({"name": "onecycle", "pct_start": 0.25},
     lambda lrs: lrs == pytest.approx(onecycle_by_hand(12, 0.05, 0.25), rel=1e-9)),
])
def test_other_schedules(schedule, check):
    model = nn.Linear(2, 2)
    cfg = recipe(schedule=schedule)
    opt = make_optimizer(model, cfg.optimizer, CPU)
    sched = make_scheduler(opt, cfg.schedule, epochs=3, steps_per_epoch=4)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        assert opt.param_groups[0]["momentum"] == 0.9  # no schedule touches the configured momentum
        opt.step()
        sched.step()
    assert check(lrs), lrs


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizers_by_name(name):
    cfg = recipe(optimizer={"name": name, "lr": 1e-3, "weight_decay": 1e-4})
    opt = make_optimizer(nn.Linear(2, 2), cfg.optimizer, CPU)
    assert type(opt).__name__.lower() == name
    assert opt.param_groups[0]["weight_decay"] == 1e-4


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_label_smoothing_is_applied_to_the_training_loss(eps):
    """One full-batch step: the epoch's training loss is the initial model's loss on all 256 images,
    (1 - eps) x mean -log p(label) + eps x mean over images and classes of -log p(class), by hand."""
    data = learnable_splits()
    with torch.no_grad():
        log_p = torch.log_softmax(build_seeded(MODEL, 0)(normalize(data.train.images)), 1)
    nll, uniform = -log_p.gather(1, data.train.labels[:, None]).mean(), -log_p.mean()
    result = train(build_seeded(MODEL, 0), data, recipe(epochs=1, batch_size=256, label_smoothing=eps), device=CPU)
    assert result.history[0]["train_loss"] == pytest.approx(((1 - eps) * nll + eps * uniform).item(), rel=1e-5)


def test_one_epoch_is_one_step_per_full_batch_and_is_the_epoch_train_records():
    """train_one_epoch on its own, set up as train() sets it up: 250 images at batch 32 are 7 optimiser and
    scheduler steps (the partial batch dropped); with crop, flip, Cutout and MixUp drawing from the run's
    generator, its loss, accuracy and weights are exactly those of train() for one epoch."""
    data = learnable_splits(n_train=250)
    cfg = recipe(epochs=1, mixup_alpha=0.4, augment={"crop_padding": 2, "flip": True, "cutout": 8})
    model = to_memory_format(build_seeded(MODEL, 0), CPU)  # seeds torch's global generator (MixUp's lambda)
    model.eval()
    optimizer = make_optimizer(model, cfg.optimizer, CPU)
    scheduler = make_scheduler(optimizer, cfg.schedule, cfg.epochs, steps_per_epoch=7)
    steps = []
    optimizer.register_step_post_hook(lambda *_: steps.append(scheduler.last_epoch))
    generator = torch.Generator().manual_seed(cfg.seed)
    state = TrainState(model, optimizer, scheduler, generator)
    stats = train_one_epoch(state, data.train, cfg, StepFunctions(model, TrainAugment(cfg.augment, generator),
                                                                  MixUp(cfg.mixup_alpha, generator)), CPU)
    assert steps == list(range(7)) and scheduler.last_epoch == 7 and model.training
    assert state.epoch == 0 and state.history == []  # train() advances the state once the epoch is validated
    reference = build_seeded(MODEL, 0)
    [row] = train(reference, data, cfg, device=CPU, evaluate_test=False).history
    assert (stats.loss, stats.accuracy) == (row["train_loss"], row["train_acc"]) and stats.seconds > 0
    for (name, got), want in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(got, want), name


def test_divergence_stops_the_run_with_epoch_and_step():
    with pytest.raises(TrainingDiverged) as err:
        train(PoisonAfter(flat_linear(), after=6), learnable_splits(), recipe(), device=CPU, run="boom")
    assert (err.value.epoch, err.value.step) == (1, 6) and math.isnan(err.value.loss)
    assert "run 'boom' diverged: training loss became nan at epoch 1, step 6" in str(err.value)


def test_batch_larger_than_the_training_set_is_a_clear_error():
    with pytest.raises(ConfigError, match="batch_size 512 is larger than the 256 training images"):
        train(build_seeded(MODEL, 0), learnable_splits(), recipe(batch_size=512), device=CPU)


def test_train_run_writes_results_info_history_and_loadable_weights(tmp_path):
    files = RunFiles(tmp_path / "demo")
    run = train_run("demo", MODEL, recipe(epochs=2, train_subset=128), learnable_splits(), profile="smoke",
                    device=CPU, files=files, predictions=True)
    results, info = read_json(files.results), read_json(files.info)
    assert tuple(results) == RESULT_KEYS  # results only: no config, provenance or timing among them
    assert results["test_accuracy"] == run.result.test.accuracy
    assert results["train_images"] == 128 and results["epochs"] == 2
    # By hand: conv 3->8 (3*8*9 + 8) + conv 8->16 (8*16*9 + 16) + fc 16*8*8 -> 32 (1024*32 + 32) + fc 32 -> 10.
    assert results["parameters"] == 224 + 1_168 + 32_800 + 330
    # Multiply-adds x 2: conv1 at 32x32 (2*9*3*8*32*32), conv2 at 16x16 (2*9*8*16*16*16), fc1 (2*1024*32), fc (2*32*10).
    assert results["flops_per_image"] == 442_368 + 589_824 + 65_536 + 640
    # Per-class accuracy is each true class's share of right answers in the test predictions.
    table = pd.read_csv(files.predictions)
    by_class = (table["actual"] == table["predicted"]).groupby(table["actual"]).mean()
    assert info["per_class_test_accuracy"] == {c: by_class.get(c) for c in CLASSES}
    counts = table["actual"].value_counts()
    assert sum(info["per_class_test_accuracy"][c] * n for c, n in counts.items()) / len(table) == \
        pytest.approx(results["test_accuracy"])
    assert info["provenance"]["profile"] == "smoke" and info["provenance"]["device"] == "cpu"
    # CPU results agree to the last digit only at the same torch thread count, so the run records it.
    assert info["provenance"]["torch_threads"] == torch.get_num_threads() >= 1
    assert info["config"]["train"]["train_subset"] == 128
    # What an identical rerun changes is in timing.json, none of it in info.json (which DVC hashes).
    timing = read_json(files.timing)
    assert timing["train_seconds"] > 0 and set(TIMING_KEYS) <= set(timing) and not set(TIMING_KEYS) & set(info)
    assert set(timing["provenance"]) == {"hardware", "git_commit", "git_dirty"}
    assert not set(timing["provenance"]) & set(info["provenance"])
    # Each prediction's confidence is its softmax probability: at least 1/10 of the mass (10 classes), at most 1.
    assert table["confidence"].between(0.1, 1.0).all() and len(table) == results["test_images"]
    assert info["runtime"] == {"device": "auto", "compile": "reduce-overhead", "compile_min_parameters": 2_000_000,
                               "eval_batch_size": 1000,
                               "checkpoint_interval_seconds": 60.0, "check_syncs": False, "processes": 1,
                               "sync_batchnorm": False}
    assert info["processes"] == {"count": 1, "batch_per_process": 32}
    history = pd.read_csv(files.history)
    assert list(history["epoch"]) == [1, 2]
    predictions = pd.read_csv(files.predictions)
    assert (predictions["actual"] == predictions["predicted"]).mean() == pytest.approx(results["test_accuracy"])
    loaded = load_weights(files.weights, MODEL)
    x = torch.randn(2, 3, 32, 32)
    run.model.eval()
    assert torch.allclose(loaded(x), run.model.cpu()(x.contiguous(memory_format=torch.channels_last)), atol=1e-5)
    other = MODEL.model_copy(update={"hidden": 64})
    with pytest.raises(StudyError, match="weights were trained for model"):
        load_weights(files.weights, other)


def test_a_diverged_run_writes_no_results_and_keeps_its_last_good_checkpoint(tmp_path):
    from cifar10_study.training.checkpoint import Checkpoints

    files = RunFiles(tmp_path / "boom")
    checkpoints = Checkpoints("boom", root=tmp_path / "ckpt")
    with pytest.raises(TrainingDiverged) as err:
        train_run("boom", MODEL, recipe(), learnable_splits(), profile="smoke", device=CPU, files=files,
                  model=PoisonAfter(flat_linear(), after=9), checkpoints=checkpoints)  # epoch 1 has 8 steps
    assert (err.value.epoch, err.value.step) == (2, 9)
    assert not files.folder.exists()
    [saved] = (tmp_path / "ckpt" / "boom").glob("*.pt")
    assert torch.load(saved, weights_only=True)["epoch"] == 1


def test_unreadable_weights_are_a_clear_error(tmp_path):
    bad = tmp_path / "w.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(StudyError, match="cannot read weights"):
        load_weights(bad, MODEL)
