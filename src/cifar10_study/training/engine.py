"""The one training loop used by every stage: train() sets a run up and trains its epochs, as torchvision's
reference `main` does around `train_one_epoch` and `evaluate`.

Data lives on the training device as uint8 tensors; at each epoch's start the epoch's batches are drawn
and augmented there in one pass (epoch_batches.py, augment.py), and each step takes its slice and runs
forward, loss, backward and the optimiser's and the schedule's steps. The rest has a module each:
device.py (which device, and its layout, precision, compilation and optimiser kernels), optimizers.py,
evaluation.py, compilation.py (torch.compile), state.py (the training state a checkpoint saves),
step_tally.py (each step's loss and correct count, read once an epoch), progress.py (the line per
epoch). On CUDA no host synchronisation happens inside an epoch (`runtime.check_syncs` turns any into an
error); on CPU the same code runs deterministically for a given seed. How it runs (device, compile,
evaluation batch, checkpoint interval) comes from params.yaml's `runtime` section, which never changes
what a CPU run computes.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..core.errors import ConfigError, TrainingDiverged
from ..data.augment import MixUp, TrainAugment
from ..data.cifar10 import Split, Splits
from .checkpoint import Checkpoint
from .compilation import TrainForward
from .device import autocast, no_syncs_allowed, synchronize, to_memory_format
from .distributed import SINGLE, World, augmentation_seed, local_batch_size
from .epoch_batches import BatchTransform, augmented_epoch
from .evaluation import EvalResult, evaluate
from .measure import count_parameters
from .optimizers import make_optimizer, make_scheduler
from .progress import EpochProgress
from .recipe import TrainConfig
from .runtime import RuntimeConfig
from .state import BackwardHook, TrainState, resume
from .step_tally import StepTally


def run_splits(data: Splits, cfg: TrainConfig) -> tuple[Split, Split, Split]:
    """The images a run trains on, validates on and is tested on, after the recipe's subsets.

    With cfg.train_on_validation it trains on the training split followed by the validation split (all
    50,000 CIFAR-10 training images) and validates on none: the test images never enter training."""
    train_split, val_split = data.train, data.val.head(cfg.val_subset)
    if cfg.train_on_validation:
        train_split, val_split = data.train + data.val, data.val.head(0)
    return train_split.head(cfg.train_subset), val_split, data.test.head(cfg.test_subset)


@dataclass
class TrainResult:
    history: list[dict]  # one row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, lr, epoch_seconds
    test: EvalResult | None  # None when train() was asked not to evaluate the test set
    train_seconds: float  # wall time of the training steps, evaluation excluded
    images_seen: int  # training images processed (epochs x steps x batch)
    images_per_epoch: int = 0  # steps per epoch x batch
    # The first epoch this process trained pays one-time costs (torch.compile, cuDNN autotuning, CUDA
    # graph capture, allocator growth); the median of the later ones is the steady-state epoch time.
    first_epoch_seconds: float | None = None
    steady_epoch_seconds: float | None = None  # None when this process trained a single epoch
    compile: dict = field(default_factory=dict)  # TrainForward.stats(): mode, graphs compiled, graph breaks

    @classmethod
    def of(cls, state: TrainState, test: EvalResult | None, images_per_epoch: int, epoch_seconds: list[float],
           compile_stats: dict) -> "TrainResult":
        """The result of a run whose training ended in `state`; epoch_seconds: the epochs this process trained."""
        return cls(state.history, test, state.train_seconds, state.epoch * images_per_epoch, images_per_epoch,
                   first_epoch_seconds=epoch_seconds[0] if epoch_seconds else None,
                   steady_epoch_seconds=statistics.median(epoch_seconds[1:]) if len(epoch_seconds) > 1 else None,
                   compile=compile_stats)

    @property
    def compiled(self) -> bool:
        """Whether the training forward pass really ran compiled code (Dynamo produced a graph)."""
        return self.compile.get("graphs", 0) > 0

    @property
    def warmup_seconds(self) -> float | None:
        """What the first epoch cost beyond a steady-state one (compile, autotuning, graph capture)."""
        if self.steady_epoch_seconds is None:
            return None
        return max(0.0, self.first_epoch_seconds - self.steady_epoch_seconds)

    @property
    def images_per_second(self) -> float:
        """Steady-state training throughput (warm-up excluded) where there is a steady state, else the
        average over all training time."""
        if self.steady_epoch_seconds:
            return self.images_per_epoch / self.steady_epoch_seconds
        return self.images_seen / self.train_seconds if self.train_seconds else 0.0


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy for hard (int64 [B]) or soft (float [B, C]) targets, with label smoothing."""
    return F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)


@dataclass(frozen=True)
class StepFunctions:
    """What every training step of a run calls, set up once by train(): the forward pass (the model, or its
    compiled or DDP-wrapped form), the augmentation and the optional batch transform (MixUp)."""

    forward: Callable[[torch.Tensor], torch.Tensor]  # train() gives a TrainForward, whose stats() it records
    augment: TrainAugment
    batch_transform: BatchTransform | None = None


@dataclass
class EpochStats:
    """One epoch of training steps, over every process: what train() records of it in its history."""

    loss: float  # mean training loss per image (with the recipe's label smoothing, against the soft targets)
    accuracy: float  # fraction of images whose top logit is the label (a soft target's dominant class)
    seconds: float  # wall time of the steps, host and device (the device synchronised at the end)


def steps_per_epoch(split: Split, batch_size: int) -> int:
    return len(split) // batch_size  # the last partial batch is dropped


def train_one_epoch(state: TrainState, split: Split, cfg: TrainConfig, steps: StepFunctions, device: torch.device,
                    world: World = SINGLE, *, run: str = "run", check_syncs: bool = False,
                    progress: tqdm | None = None) -> EpochStats:
    """Epoch state.epoch + 1 of training steps on `split`: one optimiser and one scheduler step per full
    batch, the batch order drawn from state.generator; the model is left in training mode and `state`'s
    epoch count as it was (train() advances it once the epoch has been validated).

    With several processes each augments its own shard, from `steps.augment.generator` reseeded for the
    epoch (MixUp shares that generator). The epoch's augmentation is drawn and applied at its start
    (augmented_epoch), with the draws of the per-batch order, so it trains exactly what augmenting each
    batch at its step would. check_syncs: on CUDA, any host synchronisation during the steps raises.
    Raises TrainingDiverged at the first non-finite training loss: at once in one CPU process, else at
    the epoch's end, over every process (StepTally).
    """
    epoch, model, per_epoch = state.epoch + 1, state.model, steps_per_epoch(split, cfg.batch_size)
    model.train()
    tally = StepTally(per_epoch, local_batch_size(cfg.batch_size, world), device, world)
    started = time.perf_counter()
    order = torch.randperm(len(split), device=device, generator=state.generator)
    if world.distributed:
        steps.augment.generator.manual_seed(augmentation_seed(cfg.seed, world, epoch))
    batches = augmented_epoch(split, order, per_epoch, cfg.batch_size, world, steps.augment, steps.batch_transform)
    with no_syncs_allowed(device, check_syncs):
        for step in range(per_epoch):
            x, target, y = batches.step(step)
            with autocast(device):
                logits = steps.forward(to_memory_format(x, device))
            loss = soft_cross_entropy(logits, target, cfg.label_smoothing)
            # Tallied before the backward pass: under CUDA graphs the logits live in the graphs'
            # memory pool and are only guaranteed until the next graph replays.
            dominant = target.argmax(1) if target.is_floating_point() else y
            tally.record(step, loss.detach(), (logits.argmax(1) == dominant).sum(), run, epoch)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for hook in state.hooks:
                hook((epoch - 1) * per_epoch + step, model, loss)
            state.optimizer.step()
            state.scheduler.step()
            if progress is not None:
                progress.update()
    synchronize(device)
    seconds = time.perf_counter() - started
    loss_sum, correct = tally.totals(run, epoch)
    seen = per_epoch * cfg.batch_size
    return EpochStats(loss_sum / seen, correct / seen, seconds)


def train(model: nn.Module, data: Splits, cfg: TrainConfig, *, device: torch.device, run: str = "run",
          runtime: RuntimeConfig = RuntimeConfig(), on_backward: Sequence[BackwardHook] = (),
          evaluate_test: bool = True, checkpoint: Checkpoint | None = None, world: World = SINGLE,
          live_history: Path | None = None) -> TrainResult:
    """Train `model` on the recipe's training split, validating every epoch, then test it.

    on_backward: hooks run after every backward pass (gradient recording).
    runtime: how to run (compile mode, evaluation batch size, sync checks); never changes a CPU result.
    evaluate_test: False skips the final test evaluation (speed measurements).
    checkpoint: where to save the training state after an epoch when it is due (Checkpoint.due; always after
    the last), and to resume from if a killed run left one. On CPU a resumed run ends bit-identical to an
    uninterrupted one. Only rank 0 saves.
    world: the processes training this run together (distributed.py); every one gets the same results.
    live_history: where rank 0 keeps the history so far (progress.py), printing a line after every epoch.
    """
    train_split, val_split, test_split = run_splits(data, cfg)
    per_epoch = checked_steps_per_epoch(train_split, cfg, world)
    state = start_state(model, cfg, device, world, runtime, on_backward, per_epoch)
    steps = step_functions(state.model, cfg, device, world, runtime, state.generator)
    resume(state, checkpoint, run, world)
    first_epoch = state.epoch + 1
    progress = EpochProgress(run, cfg.epochs, live_history, enabled=world.main)
    progress.start(state.history)
    bar = tqdm(total=cfg.epochs * per_epoch, initial=state.epoch * per_epoch, desc=run, unit="step",
               disable=None if world.main else True, leave=False)
    epoch_seconds = []  # the epochs this process trains
    try:
        for epoch in range(first_epoch, cfg.epochs + 1):
            started = time.perf_counter()
            lr = state.optimizer.param_groups[0]["lr"]  # the lr the epoch starts with
            # The first epoch may sync while it compiles and autotunes; every later one must not.
            stats = train_one_epoch(state, train_split, cfg, steps, device, world, run=run, progress=bar,
                                    check_syncs=runtime.check_syncs and epoch > first_epoch)
            epoch_seconds.append(stats.seconds)
            # No validation split (a run that trains on every training image): no validation figures.
            val = evaluate(state.model, val_split, runtime.eval_batch_size, device, world) if len(val_split) else None
            record_epoch(state, stats, val, lr, run, per_epoch)
            if val is not None:
                bar.set_postfix(epoch=epoch, val_acc=f"{val.accuracy:.3f}")
            progress.epoch_done(state.history, time.perf_counter() - started)
            if checkpoint and world.main and checkpoint.due(last_epoch=epoch == cfg.epochs):
                checkpoint.save(state.state_dict())
    finally:
        bar.close()
        if checkpoint:
            checkpoint.wait()  # the last write is on disk (or its error raised) before the run returns
    test = evaluate(state.model, test_split, runtime.eval_batch_size, device, world) if evaluate_test else None
    return TrainResult.of(state, test, per_epoch * cfg.batch_size, epoch_seconds, steps.forward.stats())


def record_epoch(state: TrainState, stats: EpochStats, val: EvalResult | None, lr: float, run: str,
                 per_epoch: int) -> None:
    """Epoch state.epoch + 1 done: its row in the history, and the state advanced past it. Raises
    TrainingDiverged if its validation loss is not finite, so a checkpoint only ever holds finite epochs."""
    epoch = state.epoch + 1
    state.history.append({
        "epoch": epoch, "train_loss": stats.loss, "train_acc": stats.accuracy,
        "val_loss": val.loss if val else None, "val_acc": val.accuracy if val else None,
        "lr": lr, "epoch_seconds": stats.seconds,
    })
    state.epoch, state.train_seconds = epoch, state.train_seconds + stats.seconds
    if val is not None and not math.isfinite(val.loss):
        raise TrainingDiverged(run, epoch, epoch * per_epoch, val.loss)


def checked_steps_per_epoch(train_split: Split, cfg: TrainConfig, world: World) -> int:
    """The recipe's steps per epoch, which must be at least one, with a batch the processes can split."""
    per_epoch = steps_per_epoch(train_split, cfg.batch_size)
    if per_epoch == 0:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the {len(train_split)} training images; "
                          f"lower batch_size or raise train_subset")
    local_batch_size(cfg.batch_size, world)  # raises if the batch does not split evenly over the processes
    return per_epoch


def start_state(model: nn.Module, cfg: TrainConfig, device: torch.device, world: World, runtime: RuntimeConfig,
                hooks: Sequence[BackwardHook], per_epoch: int) -> TrainState:
    """The state a run starts from: the model on the device in its layout, a fresh optimiser and schedule,
    the batch-order generator seeded by the recipe."""
    model = to_memory_format(model.to(device), device)
    if world.distributed and runtime.sync_batchnorm and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = make_optimizer(model, cfg.optimizer, device)
    scheduler = make_scheduler(optimizer, cfg.schedule, cfg.epochs, per_epoch)
    return TrainState(model, optimizer, scheduler, torch.Generator(device=device).manual_seed(cfg.seed), hooks)


def step_functions(model: nn.Module, cfg: TrainConfig, device: torch.device, world: World, runtime: RuntimeConfig,
                   generator: torch.Generator) -> StepFunctions:
    """The forward pass (DDP-wrapped with several processes, compiled as runtime says), the augmentation and
    the recipe's MixUp. One process draws its augmentation from the batch-order generator; several
    processes each draw from their own, reseeded every epoch (distributed.augmentation_seed)."""
    augment_generator = torch.Generator(device=device) if world.distributed else generator
    batch_transform = MixUp(cfg.mixup_alpha, augment_generator) if cfg.mixup_alpha > 0 else None
    replicated = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if world.distributed else model
    forward = TrainForward(replicated, runtime.compile_mode_for(count_parameters(model)), device)
    return StepFunctions(forward, TrainAugment(cfg.augment, augment_generator), batch_transform)
