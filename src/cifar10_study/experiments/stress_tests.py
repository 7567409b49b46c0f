"""Stage 2, part 2: stress tests that provoke the failure modes of scaling a plain CNN.

Vanishing gradients: plain CNNs (no batch norm, no residuals, PyTorch's default initialisation) made
very deep; every layer's gradient norm is recorded at initialisation and early in training, and each
depth is trained briefly. A run that fails to learn, or diverges, is a result recorded as data.

Parameter explosion: the baseline's conv widths multiplied up to sizes this machine cannot train.
Parameters and FLOPs are counted for every width (on PyTorch's meta device: no memory is allocated);
time and memory per training step are measured where a step is affordable; widths whose training
compute (FLOPs, so the same widths on every machine) fits the profile's budget are trained briefly.
Anything skipped says why.

Each stage writes its runs and an experiment record under runs/<stage>/; summaries, fits and figures
are analysis (analysis/stage2_results.py) and reporting.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Annotated

import pandas as pd
import torch
from pydantic import Field, model_validator

from ..core.errors import TrainingDiverged
from ..core.fileio import write_csv, write_json
from ..core.layout import EXPERIMENT_RECORD, EXPLOSION, RUNS, VANISHING
from ..core.schema import PositiveInt, Section
from ..data.cifar10 import Splits
from ..models.baseline import BaselineCNNConfig
from ..training.checkpoint import Checkpoints
from ..training.device import EvalPrecision, current_precision, use_precision
from ..training.engine import run_splits, train
from ..training.measure import count_parameters, flops_per_image, peak_memory
from ..training.recipe import TrainConfig, TrainSection
from ..training.recorders import LayerGradRecorder
from ..training.stage import TrainingView
from ..training.train_run import build_seeded, train_run
from .stage1 import BaselineParams


class VanishingConfig(TrainSection):
    """Plain deep CNNs (no BN, no residuals): depth/len(channels) conv -> ReLU layers per stage."""

    channels: list[PositiveInt] = Field(min_length=1, max_length=5)
    depths: list[PositiveInt] = Field(min_length=1)
    grad_steps: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)  # 0 = at initialisation

    @model_validator(mode="after")
    def _depths_split_evenly(self):
        bad = [d for d in self.depths if d % len(self.channels)]
        if bad:
            raise ValueError(f"depths {bad} must be multiples of len(channels) = {len(self.channels)}")
        return self


class ProfileBudget(Section):
    full: float = Field(ge=0)
    preview: float = Field(ge=0)
    quick: float = Field(ge=0)
    smoke: float = Field(ge=0)


class ExplosionConfig(TrainSection):
    """Width multipliers of the Stage 1 baseline, up to sizes this machine cannot train."""

    widths: list[PositiveInt] = Field(min_length=1)
    measure_batch_size: PositiveInt = 32  # batch for the time / memory per step measurement
    measure_max_gflops: float = Field(200.0, gt=0)  # a step costing more is not run: analytic figures only
    # A width is trained only if its training compute (3 x forward FLOPs x images x epochs) fits, in TFLOP.
    train_budget_tflop: ProfileBudget


class VanishingParams(TrainingView):
    """What the stage2_vanishing stage reads."""

    stage2_vanishing: VanishingConfig


class ExplosionParams(BaselineParams):
    """What the stage2_explosion stage reads: the baseline to widen, and the widths."""

    stage2_explosion: ExplosionConfig


def _diverged(exc: TrainingDiverged) -> dict:
    # str(): JSON has no NaN or infinity
    return {"diverged": True, "diverged_epoch": exc.epoch, "diverged_step": exc.step, "diverged_loss": str(exc.loss)}


# --- vanishing gradients ---------------------------------------------------------------------------------

def plain_cnn(cfg: VanishingConfig, depth: int) -> BaselineCNNConfig:
    """`depth` conv -> ReLU layers split evenly over the stages, a max-pool per stage, no hidden layer."""
    return BaselineCNNConfig(name="baseline_cnn", channels=cfg.channels, convs_per_stage=depth // len(cfg.channels),
                             hidden=0)


def vanishing_test(params: VanishingParams, data: Splits, device: torch.device,
                   checkpoints: Checkpoints | None = None) -> dict:
    """Train each depth (runs/stage2_vanishing/depth_<d>/), recording every layer's gradient norm at the
    chosen steps (grad_norms.csv); a diverged depth is recorded, and the others go on."""
    cfg, recipe = params.stage2_vanishing, params.stage2_vanishing.train_for(params.profile)
    depths, frames = {}, []
    for depth in cfg.depths:
        name = f"depth_{depth}"
        model_cfg = plain_cnn(cfg, depth)
        model = build_seeded(model_cfg, recipe.seed)
        recorder = LayerGradRecorder(model, cfg.grad_steps)
        try:
            train_run(f"{VANISHING}/{name}", model_cfg, recipe, data, profile=params.profile, device=device,
                      runtime=params.runtime, weights=False, on_backward=(recorder,), model=model,
                      checkpoints=checkpoints)
            outcome = {"diverged": False}
        except TrainingDiverged as exc:
            outcome = _diverged(exc)
        grads = recorder.frame().assign(depth=depth)
        frames.append(grads)
        depths[name] = {"depth": depth, "parameters": count_parameters(model), **outcome,
                        "grad_steps_not_reached": sorted(set(cfg.grad_steps) - set(grads["step"]))}
    write_csv(RUNS / VANISHING / "grad_norms.csv", pd.concat(frames, ignore_index=True))
    record = {"profile": params.profile, "epochs": recipe.epochs,
              "train_images": len(run_splits(data, recipe)[0]), "depths": depths}
    write_json(RUNS / VANISHING / EXPERIMENT_RECORD, record)
    return record


# --- parameter explosion ---------------------------------------------------------------------------------

# Training steps per timed epoch. A CPU step of a wide CNN takes seconds, so two are enough there; a GPU
# step takes milliseconds, where two would time mostly launch jitter.
MEASURE_STEPS = {"cpu": 2, "cuda": 50}


def _measure(model_cfg: BaselineCNNConfig, probe: TrainConfig, data: Splits, device: torch.device,
             precision: EvalPrecision) -> dict:
    use_precision(precision)  # a spawned process starts at the default, not the stage's `precision`
    model = build_seeded(model_cfg, probe.seed)
    with peak_memory(device) as memory:
        result = train(model, data, probe, device=device, run="measure", evaluate_test=False)
    extra = memory["bytes"] - memory["start_bytes"] if memory["bytes"] is not None else None
    steps = len(data.train.head(probe.train_subset)) // probe.batch_size
    return {"seconds_per_step": result.steady_epoch_seconds / steps, "peak_memory_bytes": extra,
            "peak_memory_kind": memory["kind"]}


def measure_step(model_cfg: BaselineCNNConfig, recipe: TrainConfig, batch_size: int, data: Splits,
                 device: torch.device) -> dict:
    """Seconds per training step and peak memory, from the real training loop: two epochs of
    MEASURE_STEPS steps each; the second epoch is timed (the first pays one-time costs).

    On CPU it runs in a fresh process: a process's resident memory does not shrink when tensors are
    freed (the allocator keeps the pages), so a peak measured after an earlier, larger run would be wrong.
    The figure is then that process's peak RSS growth during training, which includes a constant
    one-time cost of the first training loop (see width x1). On CUDA, the allocator's own peak.
    """
    steps = MEASURE_STEPS[device.type]
    probe = TrainConfig.model_validate({**recipe.model_dump(), "epochs": 2, "batch_size": batch_size,
                                        "train_subset": steps * batch_size, "val_subset": batch_size})
    if device.type == "cuda":
        return _measure(model_cfg, probe, data, device, current_precision())
    small = Splits(data.train.head(steps * batch_size), data.val.head(batch_size), data.test.head(1), data.meta)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_measure, model_cfg, probe, small, device, current_precision()).result()


def explosion_test(params: ExplosionParams, data: Splits, device: torch.device,
                   checkpoints: Checkpoints | None = None) -> dict:
    """Count, measure and (where the budget allows) train every width: runs/stage2_explosion/widths.csv
    (one row per width, with why anything was skipped), width_x<w>/ for each trained width, and the
    measured seconds per step and memory in timing.json (what an identical rerun changes, kept out of
    the stage's hash like every run's timing.json)."""
    cfg = params.stage2_explosion
    recipe = cfg.train_for(params.profile)
    budget = getattr(cfg.train_budget_tflop, params.profile)
    train_images = recipe.epochs * (len(run_splits(data, recipe)[0]) // recipe.batch_size) * recipe.batch_size
    rows, measurements = [], []
    for width in cfg.widths:
        model_cfg = params.stage1.model.scaled(width)
        with torch.device("meta"):  # counts without allocating: x16 would need hundreds of MB
            meta = model_cfg.build()
        row = {"width": width, "parameters": count_parameters(meta), "flops_per_image": flops_per_image(meta)}
        # A training step costs about 3x the forward pass (forward + backward for inputs and weights).
        step_gflop = 3 * row["flops_per_image"] * cfg.measure_batch_size / 1e9
        row["step_gflop"] = step_gflop
        if step_gflop > cfg.measure_max_gflops:
            row.update(measured=False, trained=False,
                       reason=f"a training step of {step_gflop:,.0f} GFLOP exceeds measure_max_gflops "
                              f"({cfg.measure_max_gflops:,.0f}): parameters and FLOPs counted only")
            rows.append(row)
            continue
        row["measured"] = True
        measurements.append({"width": width, **measure_step(model_cfg, recipe, cfg.measure_batch_size, data, device)})
        row["train_tflop"] = 3 * row["flops_per_image"] * train_images / 1e12
        if row["train_tflop"] > budget:
            row.update(trained=False, reason=f"training takes {row['train_tflop']:,.1f} TFLOP, over the "
                                            f"{params.profile} profile's budget of {budget:,.1f} TFLOP")
        else:
            try:
                run = train_run(f"{EXPLOSION}/width_x{width}", model_cfg, recipe, data, profile=params.profile,
                                device=device, runtime=params.runtime, weights=False, checkpoints=checkpoints)
                row.update(trained=True, diverged=False, test_accuracy=run.results["test_accuracy"],
                           final_val_accuracy=run.results["final_val_accuracy"])
                measurements[-1]["train_seconds"] = run.timing["train_seconds"]
            except TrainingDiverged as exc:
                row.update(trained=True, **_diverged(exc))
        rows.append(row)
    write_csv(RUNS / EXPLOSION / "widths.csv", pd.DataFrame(rows))
    write_json(RUNS / EXPLOSION / "timing.json", {"widths": measurements})
    record = {"profile": params.profile, "budget_tflop": budget, "measure_batch_size": cfg.measure_batch_size,
              "train_images": train_images}
    write_json(RUNS / EXPLOSION / EXPERIMENT_RECORD, record)
    return record
