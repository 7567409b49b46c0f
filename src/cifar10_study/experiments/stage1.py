"""Stage 1: the baseline CNN and its theory checks (linear collapse, bottleneck sweep), each trained once per
seed of its `seeds` (core/seeds.py): the baseline is the reference every Stage 1-2 configuration is compared
with, so its seeds measure how much retraining alone moves a result.

What is trained and measured here; the tables, confusion matrix and figures built from these runs are
analysis (analysis/stage1_results.py) and reporting.
"""
from __future__ import annotations

import torch
from pydantic import Field, model_validator

from ..core.fileio import write_json
from ..core.layout import EXPERIMENT_RECORD, RUNS, STAGE1, STAGE1_EXPERIMENTS
from ..core.schema import PositiveInt, Section
from ..core.seeds import Seeds
from ..data.cifar10 import Splits
from ..models.baseline import BaselineCNNConfig, SoftmaxConfig
from ..training.checkpoint import Checkpoints
from ..training.recipe import SeededSection, seeded
from ..training.stage import TrainingView
from ..training.train_run import Run, train_run
from .collapse import affine_fit, is_affine


class Stage1Config(SeededSection):
    """The baseline CNN, trained with `train` once per seed of `seeds` (stage1@seed_<n>)."""

    model: BaselineCNNConfig


class Stage1ExperimentsConfig(Section):
    """The variants of the baseline, trained with Stage 1's recipe once per seed of `seeds`
    (stage1_experiments@seed_<n>)."""

    seeds: Seeds
    bottleneck_stage: int = Field(ge=0)  # index into stage1.model.channels of the layer to squeeze
    bottleneck_widths: list[PositiveInt] = Field(min_length=1)


class BaselineParams(TrainingView):
    """What the stage1 stage reads."""

    stage1: Stage1Config


class ExperimentParams(BaselineParams):
    """What the stage1_experiments stage reads: the baseline and the sweep over it."""

    stage1_experiments: Stage1ExperimentsConfig

    @model_validator(mode="after")
    def _bottleneck_stage_exists(self):
        n = len(self.stage1.model.channels)
        if self.stage1_experiments.bottleneck_stage >= n:
            raise ValueError(
                f"stage1_experiments.bottleneck_stage must index stage1.model.channels (0..{n - 1}), "
                f"got {self.stage1_experiments.bottleneck_stage}"
            )
        return self


def train_baseline(params: BaselineParams, seed: str, data: Splits, device: torch.device,
                   checkpoints: Checkpoints | None = None) -> Run:
    """Train the baseline with one seed into runs/stage1/<seed>/, with its test predictions (for the confusion
    matrix) and its per-step loss and gradient norm (it is Stage 2's baseline, whose variants record the same)."""
    return train_run(f"{STAGE1}/{seed}", params.stage1.model, seeded(params.stage1.train_for(params.profile), seed),
                     data, profile=params.profile, device=device, runtime=params.runtime, record_steps=True,
                     predictions=True, checkpoints=checkpoints)


def experiment_models(params: ExperimentParams) -> dict[str, BaselineCNNConfig | SoftmaxConfig]:
    """The Stage 1 variants, each composed from the baseline's config by changing one thing."""
    base = params.stage1.model
    variants: dict[str, BaselineCNNConfig | SoftmaxConfig] = {
        "linear_maxpool": base.model_copy(update={"activation": "identity"}),
        "linear_avgpool": base.model_copy(update={"activation": "identity", "pool": "avg"}),
        "softmax": SoftmaxConfig(name="softmax"),
    }
    stage = params.stage1_experiments.bottleneck_stage
    for width in params.stage1_experiments.bottleneck_widths:
        channels = list(base.channels)
        channels[stage] = width
        variants[f"bottleneck_{width}"] = base.model_copy(update={"channels": channels})
    return variants


def train_experiments(params: ExperimentParams, seed: str, data: Splits, device: torch.device,
                      checkpoints: Checkpoints | None = None) -> dict:
    """Train every variant with one seed (runs/stage1_experiments/<seed>/<variant>/) and check the linear
    collapse numerically on the trained networks; record both in runs/stage1_experiments/<seed>/experiment.json."""
    train_cfg, folder = seeded(params.stage1.train_for(params.profile), seed), f"{STAGE1_EXPERIMENTS}/{seed}"
    runs = {name: train_run(f"{folder}/{name}", model_cfg, train_cfg, data, profile=params.profile,
                            device=device, runtime=params.runtime, predictions=True, checkpoints=checkpoints)
            for name, model_cfg in experiment_models(params).items()}
    collapse = {}
    for name in ("linear_avgpool", "linear_maxpool"):
        fit = affine_fit(runs[name].model, data.test)
        collapse[name] = {**fit, "is_affine": is_affine(fit)}
    record = {"variants": list(runs), "bottleneck_stage": params.stage1_experiments.bottleneck_stage,
              "bottleneck_widths": params.stage1_experiments.bottleneck_widths,
              "baseline_channels": params.stage1.model.channels, "collapse": collapse}
    write_json(RUNS / folder / EXPERIMENT_RECORD, record)
    return record
