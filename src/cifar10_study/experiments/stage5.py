"""Stage 5: SE-ResNet-18 with MixUp and Cutout on Stage 4's recipe and seeds, and its ablations; one
run per (configuration, seed), each a DVC stage.

The three components (components/stage5_components.py) are boolean switches in params.yaml (stage5.se,
.mixup, .cutout) with their settings as sibling keys (se_reduction, mixup_alpha, cutout_size). The full model
uses them as set; each ablation turns one off, and its DVC stage declares neither that switch nor its setting.
"""
from __future__ import annotations

import torch
from pydantic import Field

from ..components.stage5_components import STAGE5_COMPONENTS
from ..components.switches import switched
from ..core.layout import STAGE5, run_name
from ..core.schema import PositiveInt, Section
from ..data import IMAGE_SIZE
from ..data.cifar10 import Splits
from ..models.residual import ResNet18Config
from ..training.checkpoint import Checkpoints
from ..training.distributed import SINGLE, World
from ..training.recipe import TrainConfig, seeded
from ..training.train_run import Run, train_run
from . import stage4


class Stage5Config(Section):
    """Stage 4's ResNet-18 and recipe plus three components, one boolean switch each (their settings are
    sibling keys), so an ablation can depend on everything but its own switch."""

    se: bool
    se_reduction: PositiveInt = 16  # channels / reduction hidden units in each SE module
    mixup: bool
    mixup_alpha: float = Field(1.0, gt=0)  # lambda ~ Beta(alpha, alpha)
    cutout: bool
    cutout_size: int = Field(16, ge=1, le=IMAGE_SIZE)  # side of the square, px


class Stage5Params(stage4.Stage4Params):
    """What a stage5@<seed> or stage5_no_<component>@<seed> stage reads: Stage 4's recipe and seeds, and the
    components."""

    stage5: Stage5Config


def switches(params: Stage5Params, ablation: str | None = None) -> dict[str, bool]:
    """The three switches, with `ablation`'s component turned off."""
    return switched(params.stage5, STAGE5_COMPONENTS, ablation, STAGE5)


def model_config(params: Stage5Params, values: dict[str, bool]) -> ResNet18Config:
    return ResNet18Config(name="resnet18", se_reduction=params.stage5.se_reduction if values["se"] else None)


def recipe(params: Stage5Params, values: dict[str, bool]) -> TrainConfig:
    """Stage 4's recipe with MixUp and Cutout set from the switches (0 = off for both)."""
    base = stage4.recipe(params).model_dump()
    base["mixup_alpha"] = params.stage5.mixup_alpha if values["mixup"] else 0.0
    base["augment"]["cutout"] = params.stage5.cutout_size if values["cutout"] else 0
    return TrainConfig.model_validate(base)


def train(params: Stage5Params, data: Splits, device: torch.device, seed: str, ablation: str | None = None,
          checkpoints: Checkpoints | None = None, world: World = SINGLE) -> Run:
    """Train the full model (ablation None) or one ablation with the given seed (a key of stage4.seeds),
    into runs/stage5/<seed>/ or runs/stage5_ablations/<ablation>/<seed>/."""
    values = switches(params, ablation)
    return train_run(f"{run_name(STAGE5, ablation)}/{seed}", model_config(params, values),
                     seeded(recipe(params, values), seed), data,
                     profile=params.profile, device=device, runtime=params.runtime, predictions=True,
                     checkpoints=checkpoints, world=world)
