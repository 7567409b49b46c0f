"""The epoch augmented in one pass at its start (epoch_batches.py) is, bit for bit, the batches augmented
one by one at their steps, and the engine built on it trains exactly what a plain per-batch loop trains:
the speed work changes no result."""
import pytest
import torch
import torch.nn.functional as F

from cifar10_study.data.augment import AugmentConfig, MixUp, TrainAugment
from cifar10_study.models.residual import ResidualCNNConfig
from cifar10_study.training.device import autocast, to_memory_format
from cifar10_study.training.distributed import SINGLE, World
from cifar10_study.training.engine import train
from cifar10_study.training.epoch_batches import augmented_epoch
from cifar10_study.training.optimizers import make_optimizer, make_scheduler
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.train_run import build_seeded
from helpers import augment_batch, learnable_splits, mix_batch, shard

CPU = torch.device("cpu")
EVERY_AUGMENTATION = AugmentConfig(crop_padding=4, flip=True, cutout=8)


def per_batch(split, order, steps, batch_size, world, augment, mixup):
    """The batches as the engine made them before: at each step, the step's shard, augmented, then mixed."""
    for step in range(steps):
        idx = shard(order, step, batch_size, world)
        x, y = augment_batch(augment, split.images[idx]), split.labels[idx]
        yield (*mix_batch(mixup, x, y), y) if mixup else (x, y, y)


@pytest.mark.parametrize("world", [SINGLE, World(rank=1, size=2)], ids=["one process", "rank 1 of 2"])
@pytest.mark.parametrize("cfg, mixup", [
    (EVERY_AUGMENTATION, True), (AugmentConfig(crop_padding=0, flip=False), False),
    (AugmentConfig(crop_padding=2, flip=False, cutout=0), True)], ids=["all", "none", "crop+mixup"])
def test_an_epoch_augmented_at_once_is_its_batches_augmented_one_by_one(world, cfg, mixup):
    split, steps, batch = learnable_splits(n_train=200).train, 6, 32  # 8 images of the last batch dropped

    def batches(make):
        torch.manual_seed(5)  # MixUp's lambda comes from the global generator
        generator = torch.Generator().manual_seed(3)
        order = torch.randperm(len(split), generator=generator)
        return make(split, order, steps, batch, world, TrainAugment(cfg, generator),
                    MixUp(0.4, generator) if mixup else None)

    epoch, reference = batches(augmented_epoch), list(batches(per_batch))
    assert epoch.images.shape == (steps * batch // world.size, 3, 32, 32)
    for i, (x, target, y) in enumerate(reference):
        got = epoch.step(i)
        assert all(torch.equal(a, b) for a, b in zip(got, (x, target, y))), f"step {i} differs"


def recipe(**kw) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 32, "label_smoothing": 0.1, "mixup_alpha": 0.4, "seed": 4,
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
            "schedule": {"name": "cosine"}, "augment": EVERY_AUGMENTATION.model_dump()}
    return TrainConfig.model_validate({**base, **kw})


def reference_training(model, data, cfg):
    """Stage 5's recipe as a plain loop, batch by batch (the engine's draws in the engine's order, each
    batch augmented and mixed at its step, the loss totalled step by step): what train() must equal."""
    model = to_memory_format(model, CPU)
    steps = len(data.train) // cfg.batch_size
    optimizer = make_optimizer(model, cfg.optimizer, CPU)
    scheduler = make_scheduler(optimizer, cfg.schedule, cfg.epochs, steps)
    generator = torch.Generator().manual_seed(cfg.seed)
    augment, mixup = TrainAugment(cfg.augment, generator), MixUp(cfg.mixup_alpha, generator)
    losses = []
    for _ in range(cfg.epochs):
        order = torch.randperm(len(data.train), generator=generator)
        total = torch.zeros((), dtype=torch.float64)
        for x, target, y in per_batch(data.train, order, steps, cfg.batch_size, SINGLE, augment, mixup):
            with autocast(CPU):  # the engine's precision (bf16 where the CPU has the instructions)
                logits = model(to_memory_format(x, CPU))
            loss = F.cross_entropy(logits.float(), target, label_smoothing=cfg.label_smoothing)
            total += loss.detach() * len(y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        losses.append(total.item() / (steps * cfg.batch_size))
    return model, losses


def test_the_engine_trains_exactly_what_a_per_batch_loop_trains():
    """SE-residual CNN with batch norm, Cutout, MixUp and label smoothing: the same weights and the same
    recorded training losses, to the last bit."""
    torch.use_deterministic_algorithms(True)
    data, cfg = learnable_splits(n_train=160), recipe()
    net = ResidualCNNConfig(name="residual_cnn", channels=[8, 16], se_reduction=4)
    # build_seeded seeds torch's global generator, which MixUp's lambda then draws from, in both runs alike
    result = train(engine_model := build_seeded(net, 0), data, cfg, device=CPU, evaluate_test=False)
    reference, losses = reference_training(build_seeded(net, 0), data, cfg)
    assert [row["train_loss"] for row in result.history] == losses
    for (name, a), b in zip(engine_model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name


def test_an_epochs_loss_total_is_the_step_by_step_running_total_to_the_last_bit():
    """A full-profile epoch's 390 losses, totalled at the epoch's end, equal a running total kept step by step
    to the last bit, even when they span more orders of magnitude than float64 adds exactly (an exploding run:
    1e-4 to 1e9, where a vectorised sum rounds differently): when the total is read never changes a loss."""
    from cifar10_study.training.step_tally import StepTally

    g = torch.Generator().manual_seed(0)
    losses = (10 ** (torch.rand(390, generator=g, dtype=torch.float64) * 13 - 4)).float()
    tally = StepTally(len(losses), 128, CPU)
    running = torch.zeros((), dtype=torch.float64)
    for step, loss in enumerate(losses):
        tally.record(step, loss, torch.tensor(7), "run", epoch=1)
        running += loss * 128
    assert tally.totals("run", epoch=1) == (running.item(), 7 * 390)
