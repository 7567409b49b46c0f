"""Stage 2, part 1: width and depth scaling variants of the baseline.

Every variant is the Stage 1 baseline with a wider or deeper configuration, trained with the same
recipe and seed (Stage 1's `train`, with Stage 2's profile overrides), recording per-step loss and
gradient norm in runs/stage2/<variant>/. Their diagnostics (overfitting, optimisation stability) are
analysis (analysis/stage2.py), from those files.
"""
from __future__ import annotations

import torch

from ..core.config import Params, ScalingVariant
from ..core.errors import ConfigError
from ..data.cifar10 import Splits
from ..models.baseline import BaselineCNNConfig
from ..training.checkpoint import Checkpoints
from ..training.runs import Run, train_run

STAGE = "stage2"


def variant_model(base: BaselineCNNConfig, variant: ScalingVariant) -> BaselineCNNConfig:
    return base.scaled(variant.width, variant.convs_per_stage)


def run_variant(params: Params, name: str, data: Splits, device: torch.device,
                checkpoints: Checkpoints | None = None) -> Run:
    if name not in params.stage2.variants:
        raise ConfigError(f"unknown stage2 variant {name!r}; params.yaml stage2.variants has "
                          f"{', '.join(sorted(params.stage2.variants))}")
    model_cfg = variant_model(params.stage1.model, params.stage2.variants[name])
    return train_run(f"{STAGE}/{name}", model_cfg, params.stage2_recipe(), data, profile=params.profile,
                     device=device, runtime=params.runtime, record_steps=True, checkpoints=checkpoints)
