"""What every training stage starts with: validated params, the device, the prepared data on it, and the
stage's resume checkpoints (removed only once the stage's body has completed)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch

from ..core.config import Params, load_params
from ..data.cifar10 import PREPARED, Splits, load_splits
from .checkpoint import Checkpoints, stage_checkpoints
from .engine import init_device


@dataclass(frozen=True)
class TrainingStage:
    params: Params
    data: Splits
    device: torch.device
    checkpoints: Checkpoints


@contextlib.contextmanager
def training_stage(name: str) -> Iterator[TrainingStage]:
    """`name`: the stage's run folder under runs/ (and its checkpoints' under .cache/checkpoints/)."""
    params = load_params()
    device = init_device(params.runtime)
    with stage_checkpoints(name, params.runtime.checkpoint_interval_seconds) as checkpoints:
        yield TrainingStage(params, load_splits(PREPARED, device), device, checkpoints)
