"""Stage 2, part 1: width and depth scaling variants of the baseline, and their diagnostics.

Every variant is the Stage 1 baseline with a wider or deeper configuration, trained with the same
recipe and seed (Stage 1's `train`, with Stage 2's profile overrides), recording per-step loss and
gradient norm. The diagnostics stage then reads the variants' outputs: overfitting (where validation
loss bottoms out, the train - validation gap) and optimisation stability (loss spread, gradient norm).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ..reporting import plots
from ..training.checkpoint import Checkpoints
from ..core.config import Params, ScalingVariant
from ..data.cifar10 import Splits
from ..analysis.diagnostics import overfitting_summary, stability_summary
from ..core.errors import ConfigError
from ..core.fileio import atomic_path, read_json, write_json
from ..models.baseline import BaselineCNNConfig
from ..training.runs import Run, RunOutputs, train_run

STAGE = "stage2"
DIAGNOSTICS = "stage2_diagnostics"


def variant_model(base: BaselineCNNConfig, variant: ScalingVariant) -> BaselineCNNConfig:
    return base.scaled(variant.width, variant.convs_per_stage)


def run_variant(params: Params, name: str, data: Splits, device: torch.device,
                checkpoints: Checkpoints | None = None) -> Run:
    if name not in params.stage2.variants:
        raise ConfigError(f"unknown stage2 variant {name!r}; params.yaml stage2.variants has {sorted(params.stage2.variants)}")
    model_cfg = variant_model(params.stage1.model, params.stage2.variants[name])
    return train_run(f"{STAGE}/{name}", model_cfg, params.stage2_recipe(), data, profile=params.profile,
                     device=device, runtime=params.runtime, outputs=RunOutputs.under(f"{STAGE}/{name}"),
                     record_steps=True, checkpoints=checkpoints)


def run_diagnostics(params: Params) -> dict:
    """Summarise every variant from its own metrics, history and step files; draw the two figures."""
    histories, steps, rows = {}, {}, []
    window = params.stage2.loss_window
    for name, variant in params.stage2.variants.items():
        metrics = read_json(Path("metrics") / STAGE / f"{name}.json")
        histories[name] = pd.read_csv(Path("plots") / STAGE / name / "history.csv")
        steps[name] = pd.read_csv(Path("plots") / STAGE / name / "steps.csv")
        rows.append({
            "variant": name, "width": variant.width, "convs_per_stage": variant.convs_per_stage,
            "params": metrics["params"], "flops_per_image": metrics["flops_per_image"],
            "final_train_accuracy": metrics["final_train_accuracy"],
            "final_val_accuracy": metrics["final_val_accuracy"], "test_accuracy": metrics["test_accuracy"],
            "mean_epoch_seconds": float(histories[name]["epoch_seconds"].mean()),
            "images_per_second": metrics["images_per_second"],
            "peak_memory_bytes": metrics["peak_memory_bytes"], "peak_memory_kind": metrics["peak_memory_kind"],
            **overfitting_summary(histories[name]), **stability_summary(steps[name], window),
        })
    table = pd.DataFrame(rows)
    out = Path("plots") / DIAGNOSTICS
    with atomic_path(out / "variants.csv") as tmp:
        table.to_csv(tmp, index=False)
    plots.overfitting(histories, out / "overfitting.png", f"Stage 2: train vs validation ({params.profile} profile)")
    plots.stability(steps, window, out / "stability.png", f"Stage 2: optimisation stability ({params.profile} profile)")
    summary = {"profile": params.profile, "loss_window": window,
               "variants": {row["variant"]: {k: v for k, v in row.items() if k != "variant"} for row in rows}}
    write_json(Path("metrics") / f"{DIAGNOSTICS}.json", summary)
    return summary
