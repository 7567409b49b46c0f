"""Stage 1: the baseline CNN and its theory checks (linear collapse, bottleneck sweep).

What is trained and measured here; the tables, confusion matrix and figures built from these runs are
analysis (analysis/stage1_results.py) and reporting.
"""
from __future__ import annotations

import torch
from pydantic import Field, model_validator

from ..core.fileio import write_json
from ..core.layout import EXPERIMENT_RECORD, RUNS, STAGE1, STAGE1_EXPERIMENTS
from ..core.schema import PositiveInt, Section
from ..data.cifar10 import Splits
from ..models.baseline import BaselineCNNConfig, SoftmaxConfig
from ..training.checkpoint import Checkpoints
from ..training.recipe import TrainSection
from ..training.stage import TrainingView
from ..training.train_run import Run, train_run
from .collapse import affine_fit, is_affine


class Stage1Config(TrainSection):
    model: BaselineCNNConfig


class Stage1ExperimentsConfig(Section):
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


def train_baseline(params: BaselineParams, data: Splits, device: torch.device,
                   checkpoints: Checkpoints | None = None) -> Run:
    """Train the baseline into runs/stage1/, with its test predictions (for the confusion matrix) and its
    per-step loss and gradient norm (it is Stage 2's baseline, whose variants record the same)."""
    return train_run(STAGE1, params.stage1.model, params.stage1.train_for(params.profile), data,
                     profile=params.profile, device=device, runtime=params.runtime, record_steps=True,
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


def train_experiments(params: ExperimentParams, data: Splits, device: torch.device,
                      checkpoints: Checkpoints | None = None) -> dict:
    """Train every variant (runs/stage1_experiments/<variant>/) and check the linear collapse numerically
    on the trained networks; record both in runs/stage1_experiments/experiment.json."""
    train_cfg = params.stage1.train_for(params.profile)
    runs = {name: train_run(f"{STAGE1_EXPERIMENTS}/{name}", model_cfg, train_cfg, data, profile=params.profile,
                            device=device, runtime=params.runtime, predictions=True, checkpoints=checkpoints)
            for name, model_cfg in experiment_models(params).items()}
    collapse = {}
    for name in ("linear_avgpool", "linear_maxpool"):
        fit = affine_fit(runs[name].model, data.test)
        collapse[name] = {**fit, "is_affine": is_affine(fit)}
    record = {"variants": list(runs), "bottleneck_stage": params.stage1_experiments.bottleneck_stage,
              "bottleneck_widths": params.stage1_experiments.bottleneck_widths,
              "baseline_channels": params.stage1.model.channels, "collapse": collapse}
    write_json(RUNS / STAGE1_EXPERIMENTS / EXPERIMENT_RECORD, record)
    return record
