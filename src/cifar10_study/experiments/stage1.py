"""Stage 1: the baseline CNN and its theory checks (linear collapse, bottleneck sweep)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ..reporting import plots
from .collapse import affine_fit, is_affine
from ..core.config import Params
from ..data.cifar10 import CLASSES, Splits
from ..core.fileio import atomic_path, write_json, write_text
from ..training.measure import confusion
from ..reporting.tables import parameter_table
from ..models.baseline import BaselineCNNConfig, SoftmaxConfig
from ..training.checkpoint import Checkpoints
from ..training.runs import Run, RunOutputs, train_run

BASELINE = "stage1"
EXPERIMENTS = "stage1_experiments"


def run_baseline(params: Params, data: Splits, device: torch.device, checkpoints: Checkpoints | None = None) -> Run:
    """Train the baseline; write its curves, confusion matrix (PNG, JSON, per-image CSV) and parameter table."""
    run = train_run(BASELINE, params.stage1.model, params.stage1.train_for(params.profile), data,
                    profile=params.profile, device=device, runtime=params.runtime,
                    outputs=RunOutputs.under(BASELINE, predictions=True), checkpoints=checkpoints)
    out = Path("plots") / BASELINE
    table = parameter_table(run.model)
    with atomic_path(out / "param_table.csv") as tmp:
        table.to_csv(tmp, index=False)
    write_text(out / "param_table.md", table.to_markdown(index=False) + "\n")

    labels, predictions = run.result.test.labels, run.result.test.predictions
    cm = confusion(labels, predictions)
    write_json(out / "confusion_matrix.json", {"classes": list(CLASSES), "rows": "true class",
                                               "columns": "predicted class", "matrix": cm.tolist()})
    plots.curves(pd.DataFrame(run.result.history), out / "curves.png",
                 f"Stage 1 baseline CNN ({params.profile} profile)")
    plots.confusion(cm, list(CLASSES), out / "confusion_matrix.png",
                    f"Stage 1 baseline: test confusion matrix ({params.profile} profile)")
    return run


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


def _summary(run: Run) -> dict:
    keys = ("test_accuracy", "final_val_accuracy", "final_train_accuracy", "params", "flops_per_image",
            "train_seconds")
    return {k: run.metrics[k] for k in keys}


def run_experiments(params: Params, data: Splits, device: torch.device, checkpoints: Checkpoints | None = None) -> dict:
    """Train every variant; check the linear collapse numerically; sweep the bottleneck width."""
    train_cfg = params.stage1.train_for(params.profile)
    runs = {}
    for name, model_cfg in experiment_models(params).items():
        outputs = RunOutputs(Path("metrics") / EXPERIMENTS / f"{name}.json",
                             Path("plots") / EXPERIMENTS / "history" / f"{name}.csv",
                             Path("models") / EXPERIMENTS / f"{name}.pt")
        runs[name] = train_run(f"{EXPERIMENTS}/{name}", model_cfg, train_cfg, data, profile=params.profile,
                               device=device, runtime=params.runtime, outputs=outputs, checkpoints=checkpoints)

    collapse = {}
    for name in ("linear_avgpool", "linear_maxpool"):
        fit = affine_fit(runs[name].model, data.test)
        collapse[name] = {**fit, "is_affine": is_affine(fit)}

    stage = params.stage1_experiments.bottleneck_stage
    bottleneck = pd.DataFrame([
        {"width": w, **_summary(runs[f"bottleneck_{w}"])} for w in params.stage1_experiments.bottleneck_widths
    ]).sort_values("width")
    out = Path("plots") / EXPERIMENTS
    with atomic_path(out / "bottleneck.csv") as tmp:
        bottleneck.to_csv(tmp, index=False)
    plots.accuracy_vs_width(bottleneck, out / "bottleneck.png",
                            f"Bottleneck at conv stage {stage + 1} ({params.profile} profile)",
                            baseline_width=params.stage1.model.channels[stage])

    summary = {
        "profile": params.profile,
        "collapse": collapse,
        "bottleneck_stage": stage,
        "runs": {name: _summary(run) for name, run in runs.items()},
    }
    write_json(Path("metrics") / f"{EXPERIMENTS}.json", summary)
    return summary
