"""Stage 2, part 2: stress tests that provoke the failure modes of scaling a plain CNN.

Vanishing gradients: plain CNNs (no batch norm, no residuals, PyTorch's default initialisation) made
very deep; every layer's gradient norm is recorded at initialisation and early in training, and each
depth is trained briefly. A run that fails to learn, or diverges, is a result recorded as data.

Parameter explosion: the baseline's conv widths multiplied up to sizes this machine cannot train.
Parameters and FLOPs are counted for every width (on PyTorch's meta device: no memory is allocated);
time and memory per training step are measured where a step is affordable; widths whose estimated
training time fits the profile's budget are trained briefly. Anything skipped says why.
"""
from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from ..reporting import plots
from ..training.checkpoint import Checkpoints
from ..core.config import Params, TrainConfig, VanishingConfig
from ..data.cifar10 import Splits
from ..training.recorders import LayerGradRecorder
from ..analysis.diagnostics import quadratic_fit
from ..training.engine import train
from ..core.errors import TrainingDiverged
from ..core.fileio import atomic_path, write_json
from ..training.measure import count_parameters, flops_per_image, peak_memory
from ..models import build_model
from ..models.baseline import BaselineCNNConfig
from ..training.runs import RunOutputs, build_seeded, train_run

VANISHING = "stage2_vanishing"
EXPLOSION = "stage2_explosion"


def _run_outputs(stage: str, name: str) -> RunOutputs:
    return RunOutputs(Path("metrics") / stage / f"{name}.json", Path("plots") / stage / "history" / f"{name}.csv", None)


def _diverged(exc: TrainingDiverged) -> dict:
    # str(): JSON has no NaN or infinity
    return {"diverged": True, "diverged_epoch": exc.epoch, "diverged_step": exc.step, "diverged_loss": str(exc.loss),
            "test_accuracy": None, "final_val_accuracy": None}


# --- vanishing gradients ---------------------------------------------------------------------------------

def plain_cnn(cfg: VanishingConfig, depth: int) -> BaselineCNNConfig:
    """`depth` conv -> ReLU layers split evenly over the stages, a max-pool per stage, no hidden layer."""
    return BaselineCNNConfig(name="baseline_cnn", channels=cfg.channels, convs_per_stage=depth // len(cfg.channels),
                             hidden=0)


def run_vanishing(params: Params, data: Splits, device: torch.device, checkpoints: Checkpoints | None = None) -> dict:
    cfg, recipe = params.stage2_vanishing, params.stage2_vanishing.train_for(params.profile)
    results, frames = {}, []
    for depth in cfg.depths:
        name = f"depth_{depth}"
        model_cfg = plain_cnn(cfg, depth)
        model = build_seeded(model_cfg, recipe.seed)
        recorder = LayerGradRecorder(model, cfg.grad_steps)
        try:
            run = train_run(f"{VANISHING}/{name}", model_cfg, recipe, data, profile=params.profile, device=device,
                            runtime=params.runtime, outputs=_run_outputs(VANISHING, name), on_backward=(recorder,),
                            model=model, checkpoints=checkpoints)
            val = [row["val_acc"] for row in run.result.history]
            learned = [i + 1 for i, acc in enumerate(val) if acc >= cfg.learned_accuracy]
            outcome = {"diverged": False, "test_accuracy": run.metrics["test_accuracy"],
                       "final_val_accuracy": val[-1], "val_accuracy_per_epoch": val,
                       "epochs_to_learn": learned[0] if learned else None, "epochs": len(val)}
        except TrainingDiverged as exc:
            outcome = _diverged(exc)
        grads = recorder.frame().assign(depth=depth)
        frames.append(grads)
        results[name] = {"depth": depth, "conv_layers": depth, "params": count_parameters(model), **outcome,
                         "grad_norms": _grad_summary(grads),
                         "grad_steps_not_reached": sorted(set(cfg.grad_steps) - set(grads["step"]))}
    table = pd.concat(frames, ignore_index=True)
    out = Path("plots") / VANISHING
    with atomic_path(out / "grad_norms.csv") as tmp:
        table.to_csv(tmp, index=False)
    plots.grad_norms_by_layer(table, out / "grad_norms.png",
                              f"Plain CNNs: gradient norm per layer ({params.profile} profile)")
    summary = {"profile": params.profile, "learned_accuracy": cfg.learned_accuracy, "epochs": recipe.epochs,
               "train_images": len(data.train.head(recipe.train_subset)), "runs": results}
    write_json(Path("metrics") / f"{VANISHING}.json", summary)
    return summary


def _grad_summary(grads: pd.DataFrame) -> dict:
    """Per recorded step: gradient norm of the first and last weight layer and their ratio."""
    out = {}
    for step, g in grads.groupby("step"):
        first, last = float(g["grad_norm"].iloc[0]), float(g["grad_norm"].iloc[-1])
        out[str(step)] = {"first_layer": first, "last_layer": last, "first_over_last": first / last if last else None}
    return out


# --- parameter explosion ---------------------------------------------------------------------------------

# Training steps per timed epoch. A CPU step of a wide CNN takes seconds, so two are enough there; a GPU
# step takes milliseconds, where two would time mostly launch jitter.
MEASURE_STEPS = {"cpu": 2, "cuda": 50}


def _measure(model_cfg: BaselineCNNConfig, probe: TrainConfig, data: Splits, device: torch.device) -> dict:
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
        return _measure(model_cfg, probe, data, device)
    small = Splits(data.train.head(steps * batch_size), data.val.head(batch_size), data.test.head(1), data.meta)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_measure, model_cfg, probe, small, device).result()


def run_explosion(params: Params, data: Splits, device: torch.device, checkpoints: Checkpoints | None = None) -> dict:
    cfg = params.stage2_explosion
    recipe = cfg.train_for(params.profile)
    budget = getattr(cfg.train_budget_seconds, params.profile)
    train_steps = recipe.epochs * (len(data.train.head(recipe.train_subset)) // recipe.batch_size)
    rows = []
    for width in cfg.widths:
        model_cfg = params.stage1.model.scaled(width)
        with torch.device("meta"):  # counts without allocating: x16 would need hundreds of MB
            meta = build_model(model_cfg)
        row = {"width": width, "params": count_parameters(meta), "flops_per_image": flops_per_image(meta)}
        # A training step costs about 3x the forward pass (forward + backward for inputs and weights).
        step_gflop = 3 * row["flops_per_image"] * cfg.measure_batch_size / 1e9
        row["step_gflop"] = step_gflop
        if step_gflop > cfg.measure_max_gflops:
            row.update(measured=False, trained=False,
                       reason=f"a training step of {step_gflop:,.0f} GFLOP exceeds measure_max_gflops "
                              f"({cfg.measure_max_gflops:,.0f}): parameters and FLOPs counted only")
            rows.append(row)
            continue
        row.update(measured=True, **measure_step(model_cfg, recipe, cfg.measure_batch_size, data, device))
        estimate = row["seconds_per_step"] * recipe.batch_size / cfg.measure_batch_size * train_steps
        row["estimated_train_seconds"] = estimate
        if estimate > budget:
            row.update(trained=False, reason=f"estimated {estimate:,.0f} s of training exceeds the "
                                            f"{params.profile} profile's budget of {budget:,.0f} s")
        else:
            try:
                run = train_run(f"{EXPLOSION}/width_x{width}", model_cfg, recipe, data, profile=params.profile,
                                device=device, runtime=params.runtime,
                                outputs=_run_outputs(EXPLOSION, f"width_x{width}"),
                                checkpoints=checkpoints)
                row.update(trained=True, test_accuracy=run.metrics["test_accuracy"],
                           final_val_accuracy=run.metrics["final_val_accuracy"],
                           train_seconds=run.metrics["train_seconds"])
            except TrainingDiverged as exc:
                row.update(trained=True, **_diverged(exc))
        rows.append(row)
    table = pd.DataFrame(rows)
    _accuracy_per_parameter(table)
    measured = table[table["measured"]]
    fits = {
        "params": quadratic_fit(table["width"], table["params"]),
        "flops_per_image": quadratic_fit(table["width"], table["flops_per_image"]),
        "seconds_per_step": quadratic_fit(measured["width"], measured["seconds_per_step"]),
        "peak_memory_bytes": quadratic_fit(measured["width"], measured["peak_memory_bytes"].astype(float)),
    }
    out = Path("plots") / EXPLOSION
    with atomic_path(out / "widths.csv") as tmp:
        table.to_csv(tmp, index=False)
    plots.scaling(table, fits, out / "scaling.png",
                  f"Width x1..x{max(cfg.widths)}: cost against width ({params.profile} profile)",
                  cfg.measure_batch_size)
    summary = {"profile": params.profile, "budget_seconds": budget, "measure_batch_size": cfg.measure_batch_size,
               "train_steps": train_steps, "fits": fits,
               # via pandas' JSON writer: numpy scalars become plain numbers, NaN becomes null (dropped)
               "widths": {f"x{r['width']}": {k: v for k, v in r.items() if v is not None}
                          for r in json.loads(table.to_json(orient="records"))}}
    write_json(Path("metrics") / f"{EXPLOSION}.json", summary)
    return summary


def _accuracy_per_parameter(table: pd.DataFrame) -> None:
    """Test-accuracy points gained per million extra parameters, against the narrowest trained width."""
    table["accuracy_gain_per_million_params"] = float("nan")
    if "test_accuracy" not in table:
        return
    trained = table[table["test_accuracy"].notna()]
    if trained.empty:
        return
    ref = trained.iloc[0]
    extra = (trained["params"] - ref["params"]) / 1e6
    gain = 100 * (trained["test_accuracy"] - ref["test_accuracy"]) / extra.where(extra > 0)
    table.loc[trained.index, "accuracy_gain_per_million_params"] = gain
