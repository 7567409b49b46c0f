"""Stage 4: ResNet-18 (CIFAR variant) with the published recipe, one run per seed (each a DVC stage).

The architecture is fixed (models/residual.py, 11,173,962 parameters); params.yaml holds the recipe
(stage4.train and its profile overrides) and the seeds with the profiles that train them. Stage 5 trains
the same network and recipe with its components added, so the two stages differ only in those.
"""
from __future__ import annotations

import torch

from ..core.layout import STAGE4
from ..data.cifar10 import Splits
from ..models.residual import ResNet18Config
from ..training.checkpoint import Checkpoints
from ..training.distributed import SINGLE, World
from ..training.recipe import SeededSection, TrainConfig, seeded
from ..training.stage import TrainingView
from ..training.train_run import Run, train_run

MODEL = ResNet18Config(name="resnet18")  # the CIFAR variant of He et al. 2016, as published


class Stage4Config(SeededSection):
    """ResNet-18 (CIFAR variant, fixed architecture) trained with the published recipe, once per seed of
    `seeds` (stage4@seed_<n>; Stage 5 trains the same seeds)."""


class Stage4Params(TrainingView):
    """What a stage4@<seed> stage reads."""

    stage4: Stage4Config


def recipe(params: Stage4Params) -> TrainConfig:
    """The Stage 4 recipe at the params' profile (the seed is set per run from `seeds`)."""
    return params.stage4.train_for(params.profile)


def seeds(params: Stage4Params) -> list[int]:
    """The seeds trained at the active profile."""
    return params.stage4.seeds_for(params.profile)


def train(params: Stage4Params, data: Splits, device: torch.device, seed: str, checkpoints: Checkpoints | None = None,
          world: World = SINGLE) -> Run:
    """Train ResNet-18 with the given seed (a key of stage4.seeds) into runs/stage4/<seed>/, in one process
    or shared by the `world` of processes torchrun started."""
    return train_run(f"{STAGE4}/{seed}", MODEL, seeded(recipe(params), seed), data, profile=params.profile,
                     device=device, runtime=params.runtime, predictions=True, checkpoints=checkpoints, world=world)
