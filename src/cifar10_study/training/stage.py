"""What every training stage starts with: validated params, the device, the prepared data on it, and the
stage's resume checkpoints (removed only once the stage's body has completed). A stage that trains one
long run (Stages 4 and 5) can have several processes train it: runtime.processes > 1 relaunches the stage
under torchrun, and every process then comes through here with its rank."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Generic, Iterator, TypeVar

import torch

from ..core.params_file import load
from ..core.schema import Profile, View
from ..data.cifar10 import PREPARED, Splits, load_splits
from .checkpoint import Checkpoints, stage_checkpoints
from .device import Precision, init_device
from .distributed import SINGLE, World, from_environment, relaunch_under_torchrun, start, stop
from .runtime import RuntimeConfig


class TrainingView(View):
    """What every training stage reads besides its own section: how much to train (`profile`), how to run
    (`runtime`, which changes no result) and the arithmetic (`precision`, which does: device.py)."""

    profile: Profile
    runtime: RuntimeConfig = RuntimeConfig()
    precision: Precision = "auto"


StageParams = TypeVar("StageParams", bound=TrainingView)


@dataclass(frozen=True)
class TrainingStage(Generic[StageParams]):
    params: StageParams  # what the stage reads of params.yaml (its View)
    data: Splits
    device: torch.device
    checkpoints: Checkpoints
    world: World = SINGLE


@contextlib.contextmanager
def training_stage(name: str, view: type[StageParams],
                   distributed: bool = False) -> Iterator[TrainingStage[StageParams]]:
    """`name`: the stage's run folder under runs/ (and its checkpoints' under .cache/checkpoints/).
    `view`: the sections of params.yaml the stage reads (a TrainingView).
    `distributed`: the stage trains one run, which runtime.processes processes may share."""
    params = load(view)
    if distributed:
        relaunch_under_torchrun(params.runtime.processes)
    world = from_environment() if distributed else SINGLE
    device = init_device(params.runtime, world, params.precision)
    start(world, device.type)
    try:
        with stage_checkpoints(name, params.runtime.checkpoint_interval_seconds, clear=world.main) as checkpoints:
            yield TrainingStage(params, load_splits(PREPARED, device), device, checkpoints, world)
    finally:
        stop(world)
