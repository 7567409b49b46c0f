"""Stage 2, part 1: width and depth scaling variants of the baseline.

Every variant is the Stage 1 baseline with a wider or deeper configuration, trained with the same
recipe and seed (Stage 1's `train`, with Stage 2's profile overrides), recording per-step loss and
gradient norm in runs/stage2/<variant>/. Their diagnostics (overfitting, optimisation stability) are
analysis (analysis/stage2_results.py), from those files.
"""
from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field, model_validator

from ..core.errors import ConfigError
from ..core.layout import STAGE2
from ..core.schema import PositiveInt, Section
from ..data.cifar10 import Splits
from ..models.baseline import BaselineCNNConfig
from ..training.checkpoint import Checkpoints
from ..training.recipe import ProfileOverrides, TrainConfig
from ..training.train_run import Run, train_run
from .stage1 import BaselineParams


class ScalingVariant(Section):
    width: PositiveInt = 1  # multiplies the channels of every conv layer of the Stage 1 baseline
    convs_per_stage: PositiveInt = 1  # conv -> ReLU layers per stage (no extra pooling); the baseline has 1


class Stage2Config(ProfileOverrides):
    """Scaling variants, trained with Stage 1's recipe (`stage1.train`) and these profile overrides."""

    variants: dict[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")], ScalingVariant] = Field(min_length=1)
    loss_window: int = Field(20, ge=2)  # steps per window of the loss-spread (stability) diagnostic


class Stage2Params(BaselineParams):
    """What a stage2@<variant> stage reads: the baseline and its recipe, and the variants."""

    stage2: Stage2Config

    @model_validator(mode="after")
    def _stage2_recipes_valid(self):
        try:
            self.stage2.check_recipes(self.stage1.train)
        except ValueError as exc:
            raise ValueError(f"stage2: {exc}") from None
        return self

    def stage2_recipe(self) -> TrainConfig:
        """Stage 1's recipe with Stage 2's profile overrides: every variant trains with it."""
        return self.stage2.recipe(self.stage1.train, self.profile)


def variant_model(base: BaselineCNNConfig, variant: ScalingVariant) -> BaselineCNNConfig:
    return base.scaled(variant.width, variant.convs_per_stage)


def run_variant(params: Stage2Params, name: str, data: Splits, device: torch.device,
                checkpoints: Checkpoints | None = None) -> Run:
    if name not in params.stage2.variants:
        raise ConfigError(f"unknown stage2 variant {name!r}; params.yaml stage2.variants has "
                          f"{', '.join(sorted(params.stage2.variants))}")
    model_cfg = variant_model(params.stage1.model, params.stage2.variants[name])
    return train_run(f"{STAGE2}/{name}", model_cfg, params.stage2_recipe(), data, profile=params.profile,
                     device=device, runtime=params.runtime, record_steps=True, predictions=True,
                     checkpoints=checkpoints)
