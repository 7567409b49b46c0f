"""Stage 3: the residual CNN with batch norm, dropout, label smoothing and weight decay, and its ablations.

The five components (components/stage3_components.py) are flat switches in params.yaml (stage3.residual,
.batchnorm, .dropout, .label_smoothing, .weight_decay). The full model uses them as set and trains once per
seed of `stage3.seeds` (stage3@seed_<n>): it is the reference its ablations are compared with, so its seeds
measure how much retraining alone moves a result. Each ablation turns exactly one component off and trains once
per seed of `stage3.ablation_seeds` (stage3_no_<component>@seed_<n>); its DVC stage does not depend on that
component's key (dvc.yaml lists the other four).
"""
from __future__ import annotations

import torch
from pydantic import Field, model_validator

from ..components.stage3_components import STAGE3_COMPONENTS
from ..components.switches import switched
from ..core.layout import STAGE3, run_name
from ..core.schema import PROFILES, NonNegativeFloat, PositiveInt, Section
from ..core.seeds import Seeds
from ..data.cifar10 import Splits
from ..models.residual import ResidualCNNConfig
from ..training.checkpoint import Checkpoints
from ..training.recipe import SeededSection, TrainConfig, seeded
from ..training.stage import TrainingView
from ..training.train_run import Run, train_run


class Stage3ModelConfig(Section):
    """The residual CNN's shape; its component switches are the flat stage3 keys."""

    channels: list[PositiveInt] = Field(min_length=1, max_length=5)
    blocks_per_stage: PositiveInt = 1


class Stage3Config(SeededSection):
    """The five components under test, one key each, so an ablation can depend on all but its own; the full
    model's seeds (`seeds`) and every ablation's (`ablation_seeds`)."""

    ablation_seeds: Seeds
    residual: bool
    batchnorm: bool
    dropout: float = Field(ge=0, lt=1)
    label_smoothing: float = Field(ge=0, lt=1)
    weight_decay: NonNegativeFloat
    model: Stage3ModelConfig

    @model_validator(mode="after")
    def _switches_set_once(self):
        # label smoothing and weight decay are switches here: a second value in `train` would be ambiguous.
        if "label_smoothing" in self.train.model_fields_set or "weight_decay" in self.train.optimizer.model_fields_set:
            raise ValueError("set label_smoothing and weight_decay with the stage3 switches, not in stage3.train")
        for profile in PROFILES:
            overrides = getattr(self, profile)
            if "label_smoothing" in overrides or "weight_decay" in overrides.get("optimizer", {}):
                raise ValueError(f"stage3.{profile} must not override the label_smoothing / weight_decay switches")
        return self


class Stage3Params(TrainingView):
    """What the stage3@<seed> and stage3_no_<component>@<seed> stages read."""

    stage3: Stage3Config


def switches(params: Stage3Params, ablation: str | None = None) -> dict:
    """The component settings, with `ablation`'s one switched off."""
    return switched(params.stage3, STAGE3_COMPONENTS, ablation, STAGE3)


def model_config(params: Stage3Params, values: dict) -> ResidualCNNConfig:
    return ResidualCNNConfig(name="residual_cnn", **params.stage3.model.model_dump(), residual=values["residual"],
                             batchnorm=values["batchnorm"], dropout=values["dropout"])


def recipe(params: Stage3Params, values: dict) -> TrainConfig:
    base = params.stage3.train_for(params.profile).model_dump()
    base["label_smoothing"] = values["label_smoothing"]
    base["optimizer"]["weight_decay"] = values["weight_decay"]
    return TrainConfig.model_validate(base)


def train(params: Stage3Params, seed: str, data: Splits, device: torch.device, ablation: str | None = None,
          checkpoints: Checkpoints | None = None) -> Run:
    """Train the full model (ablation None) or one ablation with one seed, into runs/stage3/<seed>/ or
    runs/stage3_ablations/<ablation>/<seed>/."""
    values = switches(params, ablation)
    return train_run(f"{run_name(STAGE3, ablation)}/{seed}", model_config(params, values),
                     seeded(recipe(params, values), seed), data, profile=params.profile, device=device,
                     runtime=params.runtime, predictions=True, checkpoints=checkpoints)
