"""One training run, start to finish: seed, build, train, measure, and write its outputs atomically.

Every stage trains through `train_run`, so every run leaves the same three artefacts:
metrics JSON (results + provenance + resolved config), per-epoch history CSV, and weights.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from .checkpoint import Checkpoints, config_key
from .config import TrainConfig
from .data import Splits
from .diagnostics import StepRecorder
from .engine import BackwardHook, TrainResult, train
from .errors import StudyError
from .fileio import atomic_path, save_torch, write_json
from .metrics import count_parameters, flops_per_image, peak_memory, per_class_accuracy, provenance
from .models import ModelConfig, build_model


@dataclass(frozen=True)
class RunOutputs:
    metrics: Path  # JSON
    history: Path  # CSV, one row per epoch
    weights: Path | None  # .pt with state_dict + resolved config; None to skip
    steps: Path | None = None  # CSV, one row per step (loss, gradient norm); only with record_steps

    @classmethod
    def under(cls, run: str, metrics_dir="metrics", plots_dir="plots", models_dir="models") -> "RunOutputs":
        """The standard places: metrics/<run>.json, plots/<run>/history.csv (+ steps.csv), models/<run>.pt."""
        return cls(Path(metrics_dir) / f"{run}.json", Path(plots_dir) / run / "history.csv",
                   Path(models_dir) / f"{run}.pt", Path(plots_dir) / run / "steps.csv")


@dataclass
class Run:
    name: str
    model: nn.Module
    result: TrainResult
    metrics: dict
    steps: pd.DataFrame | None = None  # per-step loss and gradient norm, with record_steps


def build_seeded(model_cfg: ModelConfig, seed: int) -> nn.Module:
    """Build the model with its initial weights fixed by `seed`."""
    torch.manual_seed(seed)
    return build_model(model_cfg)


def train_run(name: str, model_cfg: ModelConfig, train_cfg: TrainConfig, data: Splits, *, profile: str,
              device: torch.device, outputs: RunOutputs | None = None, record_steps: bool = False,
              on_backward: tuple[BackwardHook, ...] = (), model: nn.Module | None = None,
              checkpoints: Checkpoints | None = None) -> Run:
    """Train one run. `model`, if given, must be `model_cfg` built with the recipe's seed (build_seeded).
    With `checkpoints`, the run saves its state every epoch and resumes from it after a crash; the key
    covers the run name, model, recipe and data, so any change starts the run afresh."""
    model = model if model is not None else build_seeded(model_cfg, train_cfg.seed)
    params, flops = count_parameters(model), flops_per_image(model)
    recorder = StepRecorder() if record_steps else None
    hooks = (*on_backward, recorder) if recorder else tuple(on_backward)
    checkpoint = None
    if checkpoints is not None:
        hook_configs = [getattr(h, "steps", None) for h in on_backward]  # e.g. which steps a recorder keeps
        key = config_key(name, model_cfg.model_dump(), train_cfg.model_dump(), data.meta, record_steps,
                         hook_configs, device.type)
        checkpoint = checkpoints.for_run(name, key)
    with peak_memory(device) as memory:
        result = train(model, data, train_cfg, device=device, run=name, on_backward=hooks, checkpoint=checkpoint)
    last = result.history[-1]
    metrics = {
        "run": name,
        "test_accuracy": result.test.accuracy,
        "test_loss": result.test.loss,
        "final_val_accuracy": last["val_acc"],
        "final_train_accuracy": last["train_acc"],
        "per_class_test_accuracy": per_class_accuracy(result.test.labels, result.test.predictions),
        "params": params,
        "flops_per_image": flops,
        "epochs": train_cfg.epochs,
        "train_images": min(len(data.train), train_cfg.train_subset or len(data.train)),
        "train_seconds": result.train_seconds,
        "images_per_second": result.images_per_second,
        "peak_memory_bytes": memory["bytes"],
        "peak_memory_kind": memory["kind"],
        "provenance": provenance(profile, train_cfg.seed, device, data.meta),
        "config": {"model": model_cfg.model_dump(), "train": train_cfg.model_dump()},
    }
    steps = recorder.frame() if recorder else None
    if outputs is not None:
        write_history(outputs.history, result.history)
        if steps is not None and outputs.steps is not None:
            with atomic_path(outputs.steps) as tmp:
                steps.to_csv(tmp, index=False)
        if outputs.weights is not None:
            save_weights(outputs.weights, model, metrics["config"])
        write_json(outputs.metrics, metrics)
    return Run(name, model, result, metrics, steps)


def write_history(path: Path, history: list[dict]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)


def save_weights(path: Path, model: nn.Module, config: dict) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_torch({"state_dict": state, "config": config}, path)


def load_weights(path: Path, model_cfg: ModelConfig) -> nn.Module:
    """Rebuild the model described by `model_cfg` and load `path` into it (weights_only: no pickled code)."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise StudyError(f"{path}: cannot read weights ({exc}); rerun the stage that writes it") from None
    if saved.get("config", {}).get("model") != model_cfg.model_dump():
        raise StudyError(f"{path}: weights were trained for model {saved.get('config', {}).get('model')}, "
                         f"not {model_cfg.model_dump()}; rerun the stage that writes it")
    model = build_model(model_cfg)
    model.load_state_dict(saved["state_dict"])
    return model
