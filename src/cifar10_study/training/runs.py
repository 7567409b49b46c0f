"""One training run, start to finish: seed, build, train, measure, and write its outputs atomically.

Every stage trains through `train_run`, so every run leaves the same three artefacts:
metrics JSON (results + provenance + resolved config), per-epoch history CSV, and weights (plus, where
asked, one row per test image). `train_seeds` repeats a run over seeds and writes their summary.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from .checkpoint import Checkpoints, config_key
from ..core.config import RuntimeConfig, TrainConfig
from ..data.cifar10 import CLASSES, Splits
from .recorders import StepRecorder
from .engine import BackwardHook, TrainResult, train
from ..core.errors import StudyError
from ..core.fileio import atomic_path, save_torch, write_json
from .measure import count_parameters, flops_per_image, peak_memory, per_class_accuracy, provenance
from ..models import ModelConfig, build_model
from ..analysis.stats import summarize


@dataclass(frozen=True)
class RunOutputs:
    metrics: Path  # JSON
    history: Path  # CSV, one row per epoch
    weights: Path | None  # .pt with state_dict + resolved config; None to skip
    steps: Path | None = None  # CSV, one row per step (loss, gradient norm); only with record_steps
    predictions: Path | None = None  # CSV, one row per test image (actual, predicted class); None to skip

    @classmethod
    def under(cls, run: str, metrics_dir="metrics", plots_dir="plots", models_dir="models", *,
              predictions: bool = False) -> "RunOutputs":
        """The standard places: metrics/<run>.json, plots/<run>/history.csv (+ steps.csv, and with
        `predictions` predictions.csv), models/<run>.pt."""
        return cls(Path(metrics_dir) / f"{run}.json", Path(plots_dir) / run / "history.csv",
                   Path(models_dir) / f"{run}.pt", Path(plots_dir) / run / "steps.csv",
                   Path(plots_dir) / run / "predictions.csv" if predictions else None)


@dataclass
class Run:
    name: str
    model: nn.Module
    result: TrainResult
    metrics: dict


def build_seeded(model_cfg: ModelConfig, seed: int) -> nn.Module:
    """Build the model with its initial weights fixed by `seed`."""
    torch.manual_seed(seed)
    return build_model(model_cfg)


def train_run(name: str, model_cfg: ModelConfig, train_cfg: TrainConfig, data: Splits, *, profile: str,
              device: torch.device, runtime: RuntimeConfig = RuntimeConfig(), outputs: RunOutputs | None = None,
              record_steps: bool = False, on_backward: tuple[BackwardHook, ...] = (),
              model: nn.Module | None = None, checkpoints: Checkpoints | None = None) -> Run:
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
        result = train(model, data, train_cfg, device=device, run=name, runtime=runtime, on_backward=hooks,
                       checkpoint=checkpoint)
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
        "train_images": len(data.train.head(train_cfg.train_subset)),
        "test_images": len(result.test.labels),
        "train_seconds": result.train_seconds,
        "images_per_second": result.images_per_second,  # steady state: the first epoch's warm-up excluded
        "steady_epoch_seconds": result.steady_epoch_seconds,
        "warmup_seconds": result.warmup_seconds,
        "peak_memory_bytes": memory["bytes"],
        "peak_memory_kind": memory["kind"],
        "compiled": result.compiled,
        "compile": result.compile,
        "provenance": provenance(profile, train_cfg.seed, device, data.meta),
        "config": {"model": model_cfg.model_dump(), "train": train_cfg.model_dump()},
        "runtime": runtime.model_dump(),
    }
    steps = recorder.frame() if recorder else None
    if outputs is not None:
        write_history(outputs.history, result.history)
        if steps is not None and outputs.steps is not None:
            with atomic_path(outputs.steps) as tmp:
                steps.to_csv(tmp, index=False)
        if outputs.predictions is not None:
            write_predictions(outputs.predictions, result.test.labels, result.test.predictions)
        if outputs.weights is not None:
            save_weights(outputs.weights, model, metrics["config"])
        write_json(outputs.metrics, metrics)
    return Run(name, model, result, metrics)


def train_seeds(name: str, model_cfg: ModelConfig, train_cfg: TrainConfig, seeds: list[int], data: Splits, *,
                profile: str, device: torch.device, runtime: RuntimeConfig = RuntimeConfig(),
                checkpoints: Checkpoints | None = None) -> dict:
    """One run of `train_cfg` per seed, named <name>/seed_<seed> (standard outputs, with predictions for
    paired tests), then metrics/<name>.json: every seed's results and their mean and std."""
    runs = []
    for seed in seeds:
        run = f"{name}/seed_{seed}"
        runs.append(train_run(run, model_cfg, train_cfg.model_copy(update={"seed": seed}), data, profile=profile,
                              device=device, runtime=runtime, outputs=RunOutputs.under(run, predictions=True),
                              checkpoints=checkpoints).metrics)
    first = runs[0]
    summary = {
        "run": name,
        "seeds": list(seeds),
        **{key: summarize([m[key] for m in runs])
           for key in ("test_accuracy", "test_loss", "final_val_accuracy", "final_train_accuracy",
                       "train_seconds", "images_per_second")},
        "per_seed": {str(seed): {"test_accuracy": m["test_accuracy"], "final_val_accuracy": m["final_val_accuracy"]}
                     for seed, m in zip(seeds, runs)},
        **{key: first[key] for key in ("params", "flops_per_image", "epochs", "train_images", "test_images",
                                       "peak_memory_bytes", "peak_memory_kind", "compiled", "runtime")},
        "provenance": {k: v for k, v in first["provenance"].items() if k != "seed"},
        "config": {"model": first["config"]["model"],
                   "train": {k: v for k, v in first["config"]["train"].items() if k != "seed"}},
    }
    write_json(Path("metrics") / f"{name}.json", summary)
    return summary


def write_history(path: Path, history: list[dict]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)


def write_predictions(path: Path, labels, predictions) -> None:
    """One row per test image, the form `dvc plots show` draws as a confusion matrix (class names)."""
    with atomic_path(path) as tmp:
        pd.DataFrame({"actual": [CLASSES[i] for i in labels],
                      "predicted": [CLASSES[i] for i in predictions]}).to_csv(tmp, index=False)


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


def describe_seeds(summary: dict) -> str:
    """'test accuracy 91.20% +- 0.15% (std over 3 seeds)' from a train_seeds summary."""
    acc = summary["test_accuracy"]
    spread = f" +- {100 * acc['std']:.2f}% (std over {acc['n']} seeds)" if acc["std"] is not None else " (1 seed)"
    return f"test accuracy {100 * acc['mean']:.2f}%{spread} on {summary['test_images']:,} test images"
