"""One training run, start to finish: seed, build, train, measure, and write its outputs atomically.

Every stage trains through `train_run`, and every run leaves the same files in its own folder under
runs/ (a DVC-cached stage output, see layout.RunFiles): results (the few numbers compared across
experiments), info (config, provenance, per-class accuracy), the per-epoch history, weights, and where
asked the test predictions and per-step records; all of them byte-identical on an identical CPU rerun.
What differs between identical reruns (timings, memory, hardware, git commit) goes to timing.json, which
.dvcignore keeps out of the output's hash: an identical rerun leaves dvc.lock unchanged, and a run restored
from a DVC cache or remote has no timing.json (readers treat its timings as not recorded). Summaries across runs
(means over seeds, comparisons, figures) are analysis: they read these files and never run here.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch
from torch import nn

from ..core.errors import StudyError
from ..core.fileio import save_torch, write_csv, write_json
from ..core.layout import RESULT_KEYS, RunFiles, live_history
from ..data import CLASSES
from ..data.cifar10 import Splits
from .checkpoint import Checkpoint, Checkpoints, config_key
from .cpu_guard import refuse_cpu_training
from .device import precision_record
from .distributed import SINGLE, World, local_batch_size
from .engine import TrainResult, run_splits, train
from .evaluation import EvalResult
from .measure import (
    count_parameters,
    flops_per_image,
    layer_table,
    peak_memory,
    per_class_accuracy,
    provenance,
    weight_decay_by_kind,
    where_and_when,
)
from .optimizers import make_optimizer
from .recipe import TrainConfig
from .recorders import StepRecorder
from .runtime import RuntimeConfig
from .state import BackwardHook


class ModelConfig(Protocol):
    """A model's config (any of models/): it names its network and builds it. Training takes it as given and
    imports no model code, so a run depends only on the network it trains."""

    name: str

    def build(self) -> nn.Module: ...

    def model_dump(self) -> dict[str, Any]: ...


@dataclass
class Run:
    name: str
    model: nn.Module
    result: TrainResult
    results: dict  # what results.json holds
    info: dict  # what info.json holds
    timing: dict  # what timing.json holds


def build_seeded(model_cfg: ModelConfig, seed: int) -> nn.Module:
    """Build the model with its initial weights fixed by `seed`."""
    torch.manual_seed(seed)
    return model_cfg.build()


def train_run(name: str, model_cfg: ModelConfig, train_cfg: TrainConfig, data: Splits, *, profile: str,
              device: torch.device, runtime: RuntimeConfig = RuntimeConfig(), files: RunFiles | None = None,
              predictions: bool = False, weights: bool = True, record_steps: bool = False,
              on_backward: tuple[BackwardHook, ...] = (), model: nn.Module | None = None,
              checkpoints: Checkpoints | None = None, world: World = SINGLE) -> Run:
    """Train one run and write its files to `files` (default runs/<name>/): results, info, history, and
    as asked weights, test predictions and per-step records.

    `model`, if given, must be `model_cfg` built with the recipe's seed (build_seeded). With
    `checkpoints`, the run saves its state and resumes from it after a crash (run_checkpoint).
    With several processes (`world`) every one trains and evaluates; only rank 0 writes.
    At a profile meant for a GPU, a run that would train on the CPU by default stops first (cpu_guard.py).
    While a run of the standard layout (`files` None) trains, its history so far is in
    layout.live_history(name)."""
    model = model if model is not None else build_seeded(model_cfg, train_cfg.seed)
    train_images = len(run_splits(data, train_cfg)[0])
    refuse_cpu_training(name, profile, runtime, device, model, train_cfg, train_images)
    described = ModelRecord.of(model, train_cfg)  # before training: what the report says of the untrained model
    recorder = StepRecorder() if record_steps else None
    hooks = (*on_backward, recorder) if recorder else tuple(on_backward)
    checkpoint = None
    if checkpoints is not None and world.main:
        checkpoint = run_checkpoint(checkpoints, name, model_cfg, train_cfg, data, device, record_steps, on_backward)
    live = live_history(name) if files is None else None
    with peak_memory(device) as memory:
        result = train(model, data, train_cfg, device=device, run=name, runtime=runtime, on_backward=hooks,
                       checkpoint=checkpoint, world=world, live_history=live)
    results = dict(zip(RESULT_KEYS, (
        result.test.accuracy, result.test.loss, result.history[-1]["val_acc"], result.history[-1]["train_acc"],
        described.parameters, described.flops, train_cfg.epochs, train_images, len(result.test.labels))))
    info = {
        "run": name,
        "per_class_test_accuracy": per_class_accuracy(result.test.labels, result.test.predictions),
        "compiled": result.compiled,
        "compile": result.compile,
        "provenance": {**provenance(profile, train_cfg.seed, device, data.meta), **precision_record(device)},
        "config": {"model": model_cfg.model_dump(), "train": train_cfg.model_dump()},
        "runtime": runtime.model_dump(),
        "processes": {"count": world.size, "batch_per_process": local_batch_size(train_cfg.batch_size, world)},
        "layers": described.layers,
        "weight_decay": described.weight_decay,
    }
    run = Run(name, model, result, results, info, timing_record(result, memory, device))
    if world.main:
        write_run(RunFiles.of(name) if files is None else files, run, recorder, predictions, weights)
    return run


@dataclass(frozen=True)
class ModelRecord:
    """What the report says of a run's model and recipe, recorded with the run so that reporting runs no
    training code: its size and cost, the per-layer parameter table, and what the engine's optimiser decays
    (its grouping is the same on every device, so it is read from a CPU one)."""

    parameters: int
    flops: int
    layers: list
    weight_decay: dict

    @classmethod
    def of(cls, model: nn.Module, train_cfg: TrainConfig) -> "ModelRecord":
        return cls(count_parameters(model), flops_per_image(model), layer_table(model),
                   weight_decay_by_kind(make_optimizer(model, train_cfg.optimizer, torch.device("cpu"))))


def run_checkpoint(checkpoints: Checkpoints, name: str, model_cfg: ModelConfig, train_cfg: TrainConfig, data: Splits,
                   device: torch.device, record_steps: bool, on_backward: tuple[BackwardHook, ...]) -> Checkpoint:
    """The run's resume checkpoint, keyed by the model, the recipe, the data, what the run records, the device
    type and precision (and, through `checkpoints`, the code the stage runs): any change starts afresh."""
    hook_configs = [getattr(h, "steps", None) for h in on_backward]  # e.g. which steps a recorder keeps
    return checkpoints.for_run(name, config_key(
        model=model_cfg.model_dump(), recipe=train_cfg.model_dump(), data=data.meta,
        recording={"steps": record_steps, "hooks": hook_configs}, device=device.type,
        precision=precision_record(device)))


def timing_record(result: TrainResult, memory: dict, device: torch.device) -> dict:
    """What timing.json holds: what differs between identical reruns."""
    return {
        "train_seconds": result.train_seconds,
        "images_per_second": result.images_per_second,  # steady state: the first epoch's warm-up excluded
        "steady_epoch_seconds": result.steady_epoch_seconds,
        "epoch_seconds": [row["epoch_seconds"] for row in result.history],  # kept out of history.csv
        "warmup_seconds": result.warmup_seconds,
        "peak_memory_bytes": memory["bytes"],
        "peak_memory_kind": memory["kind"],
        "provenance": where_and_when(device),
    }


def write_run(files: RunFiles, run: Run, recorder: StepRecorder | None, predictions: bool, weights: bool) -> None:
    """The run's files; results.json last, so that a run folder with results in it is complete."""
    write_history(files.history, run.result.history)
    if recorder is not None:
        write_csv(files.steps, recorder.frame())
    if predictions:
        write_predictions(files.predictions, run.result.test)
    if weights:
        save_weights(files.weights, run.model, run.info["config"])
    write_json(files.timing, run.timing)
    write_json(files.info, run.info)
    write_json(files.results, run.results)


def write_history(path: Path, history: list[dict]) -> None:
    """The per-epoch results, without the epoch times (info.json has them), so that an identical rerun
    writes an identical file."""
    write_csv(path, pd.DataFrame(history).drop(columns="epoch_seconds", errors="ignore"))


def write_predictions(path: Path, test: EvalResult) -> None:
    """One row per test image: actual and predicted class (the form `dvc plots show` draws as a confusion
    matrix) and the predicted class's softmax probability (for calibration)."""
    write_csv(path, pd.DataFrame({"actual": [CLASSES[i] for i in test.labels],
                                  "predicted": [CLASSES[i] for i in test.predictions],
                                  "confidence": test.confidence}))


def save_weights(path: Path, model: nn.Module, config: dict) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_torch({"state_dict": state, "config": config}, path)


def load_weights(path: Path, model_cfg: ModelConfig) -> nn.Module:
    """Rebuild the model described by `model_cfg` and load `path` into it (weights_only: no pickled code).
    A file that is unreadable, records another architecture, or whose tensors do not fit this one is a
    one-line StudyError."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise StudyError(f"{path}: cannot read weights ({_load_error(exc)}); rerun the stage that writes it") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("state_dict"), dict):
        raise StudyError(f"{path}: not a weights file of this project (expected a dict with a state_dict and its "
                         f"config); rerun the stage that writes it")
    recorded = saved["config"].get("model") if isinstance(saved.get("config"), dict) else None
    if recorded != model_cfg.model_dump():
        raise StudyError(f"{path}: weights were trained for model {recorded}, "
                         f"not {model_cfg.model_dump()}; rerun the stage that writes it")
    model = model_cfg.build()
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as exc:  # missing or unexpected tensors, or tensors of other shapes
        problem = str(exc).splitlines()[1:2] or [str(exc)]
        raise StudyError(f"{path}: its tensors do not fit model {model_cfg.name} ({_first_sentence(problem[0])}); "
                         f"rerun the stage that writes it") from None
    return model


def _load_error(exc: Exception) -> str:
    """Why torch.load failed, as one short clause: its messages run to paragraphs, and weights_only's names the
    refused object on a later line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    refused = [line.removeprefix("WeightsUnpickler error:") for line in lines
               if line.startswith("WeightsUnpickler error:")]
    if refused:
        return f"it holds more than tensors, which weights_only loading refuses: {_first_sentence(refused[0])}"
    return _first_sentence(lines[0]) if lines else f"{type(exc).__name__}: empty or truncated file"


def _first_sentence(text: str, limit: int = 160) -> str:
    text = text.strip().split(". ")[0].rstrip(".")
    return text if len(text) <= limit else text[:limit - 1] + "…"
