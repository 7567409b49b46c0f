"""No silent CPU fallback: a run of a profile sized for a GPU (core.schema.GPU_PROFILES) that would train
on the CPU because `runtime.device: auto` found no GPU stops before training, with the time it would
take here, measured on its own first steps. `runtime.device: cpu` is the user insisting, and trains."""
from __future__ import annotations

import copy
import time

import torch
from torch import nn

from ..core.errors import StudyError
from ..core.schema import GPU_PROFILES
from ..data import IMAGE_SIZE
from ..data.augment import normalize
from .device import autocast, to_memory_format, why_no_gpu
from .engine import soft_cross_entropy
from .optimizers import make_optimizer
from .recipe import TrainConfig
from .runtime import RuntimeConfig


def step_seconds(model: nn.Module, cfg: TrainConfig, device: torch.device) -> float:
    """Wall seconds of one training step of `cfg`'s batch on `device`, in this process's precision: forward,
    loss, backward and the optimiser's step on a copy of `model` (its weights and every random generator
    untouched), timed after one warm-up step (first-call allocations)."""
    model = to_memory_format(copy.deepcopy(model).to(device).train(), device)
    optimizer = make_optimizer(model, cfg.optimizer, device)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (cfg.batch_size, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8,
                           generator=generator).to(device)
    labels = torch.randint(0, 10, (cfg.batch_size,), generator=generator).to(device)
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        with autocast(device):  # the precision the run would train in: bf16 steps are 1.7-2.8x faster
            logits = model(to_memory_format(normalize(images), device))
        loss = soft_cross_entropy(logits, labels, cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        timings.append(time.perf_counter() - started)
    return timings[-1]


def duration(seconds: float) -> str:
    """A rough duration in the largest fitting unit: 45 s, 12 min, 3.5 h, 2.1 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def refuse_cpu_training(run: str, profile: str, runtime: RuntimeConfig, device: torch.device, model: nn.Module,
                        cfg: TrainConfig, train_images: int) -> None:
    """Raise a one-line StudyError if `run`, at a GPU profile, would train on the CPU without
    runtime.device=cpu; the estimate covers the training steps alone (evaluation not included)."""
    if profile not in GPU_PROFILES or device.type != "cpu" or runtime.device == "cpu":
        return
    per_epoch = train_images // cfg.batch_size  # the engine drops the last partial batch
    seconds = step_seconds(model, cfg, device)
    raise StudyError(
        f"{run}: the {profile} profile is meant for a GPU, but {why_no_gpu()}, so it would train on the CPU: "
        f"about {duration(cfg.epochs * per_epoch * seconds)} here ({cfg.epochs} epochs x {per_epoch} steps at "
        f"{seconds:.2f} s a step, measured on this CPU); run it on a GPU, use the quick profile, or set "
        f"runtime.device=cpu to train on the CPU anyway")
