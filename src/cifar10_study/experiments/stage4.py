"""Stage 4: ResNet-18 (CIFAR variant) with the published recipe, once per seed.

The architecture is fixed (models/residual.py, 11,173,962 parameters); params.yaml holds the recipe
(stage4.train and its profile overrides) and the seeds per profile. Stage 5 trains the same network and
recipe with its components added, so the two stages differ only in those.
"""
from __future__ import annotations

import torch

from ..training.checkpoint import Checkpoints
from ..core.config import Params, TrainConfig
from ..data.cifar10 import Splits
from ..models.residual import ResNet18Config
from ..training.runs import Run, train_seeds

STAGE = "stage4"


def recipe(params: Params) -> TrainConfig:
    """The Stage 4 recipe at the params' profile (the seed is set per run from `seeds`)."""
    return params.stage4.train_for(params.profile)


def seeds(params: Params) -> list[int]:
    return getattr(params.stage4.seeds, params.profile)


def run(params: Params, data: Splits, device: torch.device, checkpoints: Checkpoints | None = None) -> list[Run]:
    """Train ResNet-18 once per seed of the profile, into runs/stage4/seed_<s>/."""
    return train_seeds(STAGE, ResNet18Config(name="resnet18"), recipe(params), seeds(params), data,
                       profile=params.profile, device=device, runtime=params.runtime, checkpoints=checkpoints)
