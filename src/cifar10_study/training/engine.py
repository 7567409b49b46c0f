"""The one training loop used by every stage, and evaluation.

Data lives on the training device as uint8 tensors; at each epoch's start the epoch's batches are drawn
and augmented there in one pass (epoch_batches.py, augment.py), and each step takes its slice and runs
forward/backward/step. What each device uses (layout, precision, compilation, fused optimiser) is in
device.py: on CUDA bf16 autocast, channels_last, a fused optimiser, optionally torch.compile (with CUDA
graphs in the "reduce-overhead" mode), and no host synchronisation inside an epoch (each step's loss and
correct count go into its slot on the device, read once per epoch; `runtime.check_syncs` turns any sync
there into an error). On CPU the same code runs deterministically for a given seed. How it runs (device,
compile, evaluation batch, checkpoint interval) comes from params.yaml's `runtime` section, which never
changes what a CPU run computes. After each epoch the run reports its progress (progress.py).
"""
from __future__ import annotations

import contextlib
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..data.augment import MixUp, TrainAugment, normalize
from .checkpoint import Checkpoint, rng_state, set_rng_state
from .device import autocast, settings_for, synchronize, to_memory_format
from .distributed import (SINGLE, World, all_min, all_sum, augmentation_seed, broadcast_buffers, broadcast_object,
                          chunk_bounds, gather_chunks, local_batch_size)
from .epoch_batches import augmented_epoch
from .measure import count_parameters
from .progress import EpochProgress
from .recipe import OptimizerConfig, ScheduleConfig, TrainConfig
from .runtime import CompileMode, RuntimeConfig
from ..data.cifar10 import Split, Splits
from ..core.errors import ConfigError, StudyError, TrainingDiverged

# --- optimisers and schedules, by params name -----------------------------------------------------------

def make_optimizer(model: nn.Module, cfg: OptimizerConfig, device: torch.device) -> torch.optim.Optimizer:
    fast = {"fused": True} if settings_for(device).fused_optimizer else {}
    params = model.parameters()
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay, **fast)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fast)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fast)
    raise ConfigError(f"unknown optimizer {cfg.name!r}; valid: sgd, adam, adamw")


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, epochs: int,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """A schedule stepped once per optimisation step; its length derives from epochs, never written twice."""
    total = epochs * steps_per_epoch
    if cfg.name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if cfg.name == "cosine":
        # After the last of `total` steps the lr is exactly min_lr.
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=cfg.min_lr)
    if cfg.name == "onecycle":
        max_lr = [g["lr"] for g in optimizer.param_groups]
        # cycle_momentum=False: the momentum stays what optimizer.momentum says.
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total,
                                                   pct_start=cfg.pct_start, cycle_momentum=False)
    if cfg.name == "step":
        # Milestones are fractions of training, so the quick and smoke profiles scale them with epochs.
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=[round(m * total) for m in cfg.milestones], gamma=cfg.gamma)
    raise ConfigError(f"unknown schedule {cfg.name!r}; valid: constant, cosine, onecycle, step")


# --- evaluation ----------------------------------------------------------------------------------------

@dataclass
class EvalResult:
    loss: float  # mean cross-entropy (no label smoothing), nats
    accuracy: float  # fraction correct, 0..1
    predictions: np.ndarray = field(repr=False)  # int64 [N]
    labels: np.ndarray = field(repr=False)  # int64 [N]
    # float32 [N]: the softmax probability of the predicted class, for calibration (analysis/calibration.py)
    confidence: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.float32))


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, batch_size: int, device: torch.device,
             world: World = SINGLE) -> EvalResult:
    """Mean loss, accuracy and every image's prediction with its confidence. With several processes each
    evaluates its contiguous share of the images (rank 0's model: see broadcast_buffers) and the results
    are combined."""
    was_training = model.training
    model.eval()
    broadcast_buffers(model, world)
    bounds = chunk_bounds(len(split), world)
    first, last = bounds[world.rank]
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    preds = [torch.empty(0, dtype=torch.long, device=device)]
    confidences = [torch.empty(0, dtype=torch.float32, device=device)]
    for start in range(first, last, batch_size):
        end = min(start + batch_size, last)
        x = to_memory_format(normalize(split.images[start:end]), device)
        y = split.labels[start:end]
        with autocast(device):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        preds.append(logits.argmax(1))
        confidences.append(logits.float().softmax(1).amax(1))
    model.train(was_training)
    all_sum(loss_sum, world)
    sizes = [end - start for start, end in bounds]
    predictions = gather_chunks(torch.cat(preds), sizes, world).cpu().numpy()
    confidence = gather_chunks(torch.cat(confidences), sizes, world).cpu().numpy()
    labels = split.labels.cpu().numpy()
    return EvalResult(loss_sum.item() / len(split), float((predictions == labels).mean()), predictions, labels,
                      confidence)


# --- training ------------------------------------------------------------------------------------------

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


class _StepTally:
    """Each step's training loss and correct count, written into the step's slot on the device (one small
    copy a step, no host synchronisation, nothing decided per step on the host) and summed at the epoch's
    end; there too the first non-finite loss of any process is found. In one CPU process, where a
    synchronisation costs nothing, a non-finite loss stops the run at once instead."""

    def __init__(self, steps: int, batch: int, device: torch.device, world: World = SINGLE):
        self.batch = batch  # this process's images a step
        self.losses = torch.zeros(steps, device=device)
        self.correct = torch.zeros(steps, device=device, dtype=torch.long)
        self.stop_at_once, self.world = device.type == "cpu" and not world.distributed, world

    def record(self, step: int, loss: torch.Tensor, correct: torch.Tensor, run: str, epoch: int) -> None:
        self.losses[step] = loss
        self.correct[step] = correct
        if self.stop_at_once and not torch.isfinite(loss):
            self._raise(run, epoch, step, float(loss))

    def first_bad_step(self) -> int:
        """The epoch's first step (from 0) with a non-finite loss on any process; -1 if none."""
        bad = (~torch.isfinite(self.losses)).nonzero()
        mine = int(bad[0, 0]) if len(bad) else -1
        if not self.world.distributed:
            return mine
        never = torch.iinfo(torch.long).max
        first = int(all_min(torch.tensor(mine if mine >= 0 else never, device=self.losses.device), self.world).item())
        return -1 if first == never else first

    def _raise(self, run: str, epoch: int, step: int, loss: float) -> None:
        steps = len(self.losses)
        raise TrainingDiverged(run, epoch=epoch, step=(epoch - 1) * steps + step + 1, loss=loss)

    def totals(self, run: str, epoch: int) -> tuple[float, int]:
        """(summed loss x images, correct images) over the epoch and every process; raises TrainingDiverged
        at the first non-finite loss (its value where this process had it, else NaN)."""
        step = self.first_bad_step()
        if step >= 0:
            mine = float(self.losses[step])  # finite if another process had the bad loss: then NaN is reported
            self._raise(run, epoch, step, mine if not math.isfinite(mine) else float("nan"))
        # Added up in step order in float64, on the host (one copy an epoch): the running total earlier
        # versions kept step by step, to the last bit, whatever the losses' range (a vectorised sum would
        # round differently once they span more than float64 holds exactly, e.g. an exploding run; tested).
        total = 0.0
        for value in (self.losses * self.batch).double().tolist():
            total += value
        loss_sum = torch.tensor(total, dtype=torch.float64, device=self.losses.device)
        correct = self.correct.sum()
        all_sum(loss_sum, self.world)
        all_sum(correct, self.world)
        return loss_sum.item(), int(correct.item())


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy for hard (int64 [B]) or soft (float [B, C]) targets, with label smoothing."""
    return F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)


def _dynamo_counts() -> dict[str, int]:
    """Dynamo's and inductor's own tallies, cumulative over the process."""
    from torch._dynamo.utils import counters

    return {"graphs": counters["stats"]["unique_graphs"], "graph_breaks": sum(counters["graph_break"].values()),
            # inductor's count of graphs it ran without CUDA graphs in a CUDA-graph mode (and why, in its log)
            "cudagraph_skips": counters["inductor"]["cudagraph_skips"]}


class TrainForward:
    """What the training steps call: the model itself, or torch.compile(model, mode=...) where the device
    compiles (CUDA; device.py says why not elsewhere). The compiled wrapper shares the parameters, so
    checkpoints and saved weights keep using `model`'s own state_dict keys.
    `stats()` counts what Dynamo really compiled for this run, so a skipped frame or an eager fallback
    is not reported as compiled.
    """

    CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")

    def __init__(self, model: nn.Module, mode: CompileMode, device: torch.device):
        self.mode = mode if settings_for(device).compiles else "off"
        if self.mode == "off":
            self._call = model
        else:
            # Dynamo's caches outlive a model: a second run of the same architecture in this process could
            # reuse the first one's graphs and count none. A reset makes each run's count its own.
            import torch._dynamo

            torch._dynamo.reset()
            self._call = torch.compile(model, mode=None if self.mode == "default" else self.mode)
        self._start = _dynamo_counts()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode in self.CUDA_GRAPH_MODES:
            # A new iteration: the graphs may now overwrite the previous step's outputs (all consumed).
            torch.compiler.cudagraph_mark_step_begin()
        return self._call(x)

    def stats(self) -> dict:
        now = _dynamo_counts()
        return {"mode": self.mode, **{k: now[k] - self._start[k] for k in now}}


@contextlib.contextmanager
def no_syncs_allowed(device: torch.device, enabled: bool) -> Iterator[None]:
    """With `enabled` on CUDA, any host synchronisation inside the block raises (torch's sync debug mode)."""
    if not enabled or device.type != "cuda":
        yield
        return
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


# Called after each backward pass, before the optimiser step: (global step from 0, model, loss).
# Diagnostics (diagnostics.py) record gradient norms this way; they must not sync with the host.
BackwardHook = Callable[[int, nn.Module, torch.Tensor], None]


def _steps_per_epoch(split: Split, batch_size: int) -> int:
    return len(split) // batch_size  # the last partial batch is dropped


@dataclass
class EpochStats:
    """One epoch of training steps, over every process: what train() records of it in its history."""

    loss: float  # mean training loss per image (with the recipe's label smoothing, against the soft targets)
    accuracy: float  # fraction of images whose top logit is the label (a soft target's dominant class)
    seconds: float  # wall time of the steps, host and device (the device synchronised at the end on CUDA)


def train_one_epoch(model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, split: Split, cfg: TrainConfig, epoch: int, *,
                    generator: torch.Generator, augment: TrainAugment, device: torch.device,
                    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    batch_transform: Callable | None = None, on_backward: Sequence[BackwardHook] = (),
                    run: str = "run", check_syncs: bool = False, world: World = SINGLE,
                    progress: tqdm | None = None) -> EpochStats:
    """Epoch `epoch` (from 1) of training steps on `split`: one optimiser and one scheduler step per full
    batch, the batch order drawn from `generator`; the model is left in training mode.

    The caller prepares the rest as train() does (device, memory format, optimiser, schedule): `forward`
    is what the steps call (default `model`; train() passes its TrainForward, compiled or DDP-wrapped);
    `batch_transform` is applied as given (train() resolves MixUp). With several processes each
    augments its own shard, from `augment.generator` reseeded for the epoch (MixUp shares that generator).
    The epoch's augmentation is drawn and applied at its start (augmented_epoch), with the draws of the
    per-batch order, so it trains exactly what augmenting each batch at its step would.
    check_syncs: on CUDA, any host synchronisation during the steps raises (no_syncs_allowed).
    Raises TrainingDiverged at the first non-finite training loss: at once in one CPU process, else at
    the epoch's end, over every process (_StepTally).
    """
    forward = model if forward is None else forward
    steps_per_epoch = _steps_per_epoch(split, cfg.batch_size)
    model.train()
    tally = _StepTally(steps_per_epoch, local_batch_size(cfg.batch_size, world), device, world)
    started = time.perf_counter()
    order = torch.randperm(len(split), device=device, generator=generator)
    if world.distributed:
        augment.generator.manual_seed(augmentation_seed(cfg.seed, world, epoch))
    batches = augmented_epoch(split, order, steps_per_epoch, cfg.batch_size, world, augment, batch_transform)
    with no_syncs_allowed(device, check_syncs):
        for step in range(steps_per_epoch):
            x, target, y = batches.step(step)
            x = to_memory_format(x, device)
            with autocast(device):
                logits = forward(x)
            loss = soft_cross_entropy(logits, target, cfg.label_smoothing)
            # Tallied before the backward pass: under CUDA graphs the logits live in the graphs'
            # memory pool and are only guaranteed until the next graph replays.
            dominant = target.argmax(1) if target.is_floating_point() else y
            tally.record(step, loss.detach(), (logits.argmax(1) == dominant).sum(), run, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            global_step = (epoch - 1) * steps_per_epoch + step
            for hook in on_backward:
                hook(global_step, model, loss)
            optimizer.step()
            scheduler.step()
            if progress is not None:
                progress.update()
    synchronize(device)
    seconds = time.perf_counter() - started
    loss_sum, correct = tally.totals(run, epoch)
    seen = steps_per_epoch * cfg.batch_size
    return EpochStats(loss_sum / seen, correct / seen, seconds)


def _restore_checkpoint(checkpoint: Checkpoint | None, run: str, world: World, *, model: nn.Module,
                        optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                        generator: torch.Generator, hooks: Sequence[BackwardHook]) -> tuple[list[dict], float, int]:
    """Resume from `checkpoint` if it holds a run: its states loaded into the model, optimiser, scheduler,
    RNGs and hooks on every process. Returns the history so far, the training seconds so far and the first
    epoch to train: ([], 0.0, 1) when there is nothing to resume."""
    # Rank 0 reads the checkpoint and hands it to the others (they may run on machines without the file).
    saved = broadcast_object(checkpoint.load() if checkpoint and world.main else None, world)
    if saved is None:
        return [], 0.0, 1
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        set_rng_state(saved["rng"], generator)
        for hook, state in zip(hooks, saved["hooks"]):
            if state is not None:
                hook.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        # The key covers config, code and device, so this is a damaged file: start afresh.
        raise StudyError(f"checkpoint {checkpoint.path} cannot be restored ({exc}); delete it and rerun") from None
    history, train_seconds, first_epoch = saved["history"], saved["train_seconds"], saved["epoch"] + 1
    if world.main:
        print(f"resuming {run} from epoch {first_epoch} (checkpoint {checkpoint.path})", file=sys.stderr)
    return history, train_seconds, first_epoch


def _save_checkpoint(checkpoint: Checkpoint, epoch: int, history: list[dict], train_seconds: float, *,
                     model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler, generator: torch.Generator,
                     hooks: Sequence[BackwardHook]) -> None:
    """Everything the epochs after `epoch` depend on, for _restore_checkpoint (written in the background)."""
    checkpoint.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "rng": rng_state(generator),
                     "history": history, "train_seconds": train_seconds,
                     # recorders' data so far, so a resumed run's records are complete
                     "hooks": [h.state_dict() if hasattr(h, "state_dict") else None for h in hooks]})


def train(model: nn.Module, data: Splits, cfg: TrainConfig, *, device: torch.device, run: str = "run",
          runtime: RuntimeConfig = RuntimeConfig(), batch_transform: Callable | None = None,
          on_backward: Sequence[BackwardHook] = (), evaluate_test: bool = True,
          checkpoint: Checkpoint | None = None, world: World = SINGLE,
          live_history: Path | None = None) -> TrainResult:
    """Train `model` on data.train with the recipe `cfg`, validating on data.val every epoch, then test.

    batch_transform: optional (images_float, labels) -> (images_float, targets) applied after the
    augmentation; targets may be soft [B, C]. None: MixUp if cfg.mixup_alpha > 0. Training accuracy is
    against the dominant label of a soft target (the larger MixUp share).
    on_backward: hooks run after every backward pass (gradient recording).
    runtime: how to run (compile mode, evaluation batch size, sync checks); never changes a CPU result.
    evaluate_test: False skips the final test evaluation (speed measurements).
    checkpoint: where to save the full training state at the end of an epoch when it is due (see
    Checkpoint.due; always after the last), and to resume from if a checkpoint is already there (a
    killed run). On CPU a resumed run ends bit-identical to an uninterrupted one.
    world: the processes training this run together (distributed.py); one by default. Only rank 0 saves
    checkpoints; every process gets the same history and results.
    live_history: where rank 0 keeps the history so far during training (progress.py); after every epoch
    it also prints one line with the epoch's figures and the time left.
    """
    train_split, val_split, test_split = run_splits(data, cfg)
    steps_per_epoch = _steps_per_epoch(train_split, cfg.batch_size)
    if steps_per_epoch == 0:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the {len(train_split)} training images; "
                          f"lower batch_size or raise train_subset")
    local_batch_size(cfg.batch_size, world)  # checks the recipe's batch splits over the processes
    model = to_memory_format(model.to(device), device)
    if world.distributed and runtime.sync_batchnorm and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = make_optimizer(model, cfg.optimizer, device)
    scheduler = make_scheduler(optimizer, cfg.schedule, cfg.epochs, steps_per_epoch)
    # The batch order: the same on every process. One process draws its augmentation from the same
    # generator (the stream of every earlier version, so results are unchanged); several processes each
    # draw from their own, reseeded every epoch (distributed.augmentation_seed).
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    augment_generator = torch.Generator(device=device) if world.distributed else generator
    augment = TrainAugment(cfg.augment, augment_generator)
    if batch_transform is None and cfg.mixup_alpha > 0:
        batch_transform = MixUp(cfg.mixup_alpha, augment_generator)
    replicated = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if world.distributed else model
    forward = TrainForward(replicated, runtime.compile_mode_for(count_parameters(model)), device)
    # What a checkpoint saves and restores, besides the epoch, the history and the training time.
    resumable = dict(model=model, optimizer=optimizer, scheduler=scheduler, generator=generator, hooks=on_backward)
    history, train_seconds, first_epoch = _restore_checkpoint(checkpoint, run, world, **resumable)
    progress = EpochProgress(run, cfg.epochs, live_history, enabled=world.main)
    progress.start(history)
    bar = tqdm(total=cfg.epochs * steps_per_epoch, initial=(first_epoch - 1) * steps_per_epoch, desc=run,
               unit="step", disable=None if world.main else True, leave=False)
    epoch_seconds = []  # the epochs this process trains
    try:
        for epoch in range(first_epoch, cfg.epochs + 1):
            epoch_started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]  # the lr the epoch starts with
            # The first epoch may sync while it compiles and autotunes; every later one must not.
            stats = train_one_epoch(model, optimizer, scheduler, train_split, cfg, epoch, generator=generator,
                                    augment=augment, device=device, forward=forward, batch_transform=batch_transform,
                                    on_backward=on_backward, run=run, world=world, progress=bar,
                                    check_syncs=runtime.check_syncs and epoch > first_epoch)
            epoch_seconds.append(stats.seconds)
            train_seconds += stats.seconds
            # No validation split (a run that trains on every training image): no validation columns' values.
            val = evaluate(model, val_split, runtime.eval_batch_size, device, world) if len(val_split) else None
            history.append({
                "epoch": epoch, "train_loss": stats.loss, "train_acc": stats.accuracy,
                "val_loss": val.loss if val else None, "val_acc": val.accuracy if val else None,
                "lr": lr, "epoch_seconds": stats.seconds,
            })
            if val is not None:
                bar.set_postfix(epoch=epoch, val_acc=f"{val.accuracy:.3f}")
                if not math.isfinite(val.loss):
                    raise TrainingDiverged(run, epoch, epoch * steps_per_epoch, val.loss)
            progress.epoch_done(history, time.perf_counter() - epoch_started)
            # Only after a finite epoch: a divergence keeps the last good checkpoint.
            if checkpoint and world.main and checkpoint.due(last_epoch=epoch == cfg.epochs):
                _save_checkpoint(checkpoint, epoch, history, train_seconds, **resumable)
    finally:
        bar.close()
        if checkpoint:
            checkpoint.wait()  # the last write is on disk (or its error raised) before the run returns
    test = evaluate(model, test_split, runtime.eval_batch_size, device, world) if evaluate_test else None
    return TrainResult(history, test, train_seconds, cfg.epochs * steps_per_epoch * cfg.batch_size,
                       images_per_epoch=steps_per_epoch * cfg.batch_size,
                       first_epoch_seconds=epoch_seconds[0] if epoch_seconds else None,
                       steady_epoch_seconds=statistics.median(epoch_seconds[1:]) if len(epoch_seconds) > 1 else None,
                       compile=forward.stats())
