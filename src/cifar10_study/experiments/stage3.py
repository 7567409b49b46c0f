"""Stage 3: the residual CNN with batch norm, dropout, label smoothing and weight decay, and its ablations.

The five components are flat switches in params.yaml (stage3.residual, .batchnorm, .dropout,
.label_smoothing, .weight_decay). The full model uses them as set; each ablation turns exactly one off,
and its DVC stage does not depend on that key (dvc.yaml lists the other four).
"""
from __future__ import annotations

import torch

from . import ablations
from .ablations import switched
from ..training.checkpoint import Checkpoints
from ..core.config import Params, TrainConfig
from ..data.cifar10 import Splits
from ..models.residual import ResidualCNNConfig
from ..training.runs import Run, train_run

STAGE = "stage3"
SWITCHES = ("residual", "batchnorm", "dropout", "label_smoothing", "weight_decay")
# Each ablation: the one switch it turns off, and the value that means "off".
ABLATIONS = {
    "no_residual": ("residual", False),
    "no_batchnorm": ("batchnorm", False),
    "no_dropout": ("dropout", 0.0),
    "no_label_smoothing": ("label_smoothing", 0.0),
    "no_weight_decay": ("weight_decay", 0.0),
}


def switches(params: Params, ablation: str | None = None) -> dict:
    """The five component settings, with `ablation`'s one switched off."""
    return switched({name: getattr(params.stage3, name) for name in SWITCHES}, ABLATIONS, ablation, STAGE)


def model_config(params: Params, values: dict) -> ResidualCNNConfig:
    return ResidualCNNConfig(name="residual_cnn", **params.stage3.model.model_dump(), residual=values["residual"],
                             batchnorm=values["batchnorm"], dropout=values["dropout"])


def recipe(params: Params, values: dict) -> TrainConfig:
    base = params.stage3.train_for(params.profile).model_dump()
    base["label_smoothing"] = values["label_smoothing"]
    base["optimizer"]["weight_decay"] = values["weight_decay"]
    return TrainConfig.model_validate(base)


def run_name(ablation: str | None) -> str:
    return ablations.run_name(STAGE, ablation)


def run(params: Params, data: Splits, device: torch.device, ablation: str | None = None,
        checkpoints: Checkpoints | None = None) -> Run:
    """Train the full model (ablation None) or one ablation, into runs/<run_name(ablation)>/."""
    values = switches(params, ablation)
    return train_run(run_name(ablation), model_config(params, values), recipe(params, values), data,
                     profile=params.profile, device=device, runtime=params.runtime, checkpoints=checkpoints)
