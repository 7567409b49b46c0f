"""Stage 1: the baseline CNN and its theory checks (linear collapse, bottleneck sweep).

What is trained and measured here; the tables, confusion matrix and figures built from these runs are
analysis (analysis/stage1.py) and reporting.
"""
from __future__ import annotations

import torch

from ..core.config import Params
from ..core.fileio import write_json
from ..data.cifar10 import Splits
from ..models.baseline import BaselineCNNConfig, SoftmaxConfig
from ..training.checkpoint import Checkpoints
from ..training.runs import RUNS, Run, train_run
from .collapse import affine_fit, is_affine

BASELINE = "stage1"
EXPERIMENTS = "stage1_experiments"
# What the experiments stage records besides its runs: the collapse check and what the sweep covered.
EXPERIMENT_RECORD = RUNS / EXPERIMENTS / "experiment.json"


def run_baseline(params: Params, data: Splits, device: torch.device, checkpoints: Checkpoints | None = None) -> Run:
    """Train the baseline into runs/stage1/ (with its test predictions, for the confusion matrix)."""
    return train_run(BASELINE, params.stage1.model, params.stage1.train_for(params.profile), data,
                     profile=params.profile, device=device, runtime=params.runtime, predictions=True,
                     checkpoints=checkpoints)


def experiment_models(params: Params) -> dict[str, BaselineCNNConfig | SoftmaxConfig]:
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


def run_experiments(params: Params, data: Splits, device: torch.device, checkpoints: Checkpoints | None = None) -> dict:
    """Train every variant (runs/stage1_experiments/<variant>/) and check the linear collapse numerically
    on the trained networks; record both in runs/stage1_experiments/experiment.json."""
    train_cfg = params.stage1.train_for(params.profile)
    runs = {name: train_run(f"{EXPERIMENTS}/{name}", model_cfg, train_cfg, data, profile=params.profile,
                            device=device, runtime=params.runtime, checkpoints=checkpoints)
            for name, model_cfg in experiment_models(params).items()}
    collapse = {}
    for name in ("linear_avgpool", "linear_maxpool"):
        fit = affine_fit(runs[name].model, data.test)
        collapse[name] = {**fit, "is_affine": is_affine(fit)}
    record = {"variants": list(runs), "bottleneck_stage": params.stage1_experiments.bottleneck_stage,
              "bottleneck_widths": params.stage1_experiments.bottleneck_widths,
              "baseline_channels": params.stage1.model.channels, "collapse": collapse}
    write_json(EXPERIMENT_RECORD, record)
    return record
