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

import pandas as pd
import torch
from torch import nn

from ..core.errors import StudyError
from ..core.fileio import save_torch, write_csv, write_json
from ..core.layout import RESULT_KEYS, RunFiles, live_history
from ..data import CLASSES
from ..data.cifar10 import Splits
from ..models import ModelConfig, build_model
from .checkpoint import Checkpoints, config_key
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
    return build_model(model_cfg)


def train_run(name: str, model_cfg: ModelConfig, train_cfg: TrainConfig, data: Splits, *, profile: str,
              device: torch.device, runtime: RuntimeConfig = RuntimeConfig(), files: RunFiles | None = None,
              predictions: bool = False, weights: bool = True, record_steps: bool = False,
              on_backward: tuple[BackwardHook, ...] = (), model: nn.Module | None = None,
              checkpoints: Checkpoints | None = None, world: World = SINGLE) -> Run:
    """Train one run and write its files to `files` (default runs/<name>/): results, info, history, and
    as asked weights, test predictions and per-step records.

    `model`, if given, must be `model_cfg` built with the recipe's seed (build_seeded). With
    `checkpoints`, the run saves its state and resumes from it after a crash; the key covers the model,
    the recipe, the data, the device type and the code the stage runs, so any change starts afresh.
    With several processes (`world`) every one trains and evaluates; only rank 0 writes.
    At a profile meant for a GPU, a run that would train on the CPU by default stops first (cpu_guard.py).
    While a run of the standard layout (`files` None) trains, its history so far is in
    layout.live_history(name)."""
    model = model if model is not None else build_seeded(model_cfg, train_cfg.seed)
    train_images = len(run_splits(data, train_cfg)[0])
    refuse_cpu_training(name, profile, runtime, device, model, train_cfg, train_images)
    parameters, flops = count_parameters(model), flops_per_image(model)
    # What the report says of the model and the recipe, recorded here so that reporting runs no training code:
    # the per-layer parameter table, and what the engine's optimizer decays (its grouping is the same on
    # every device, so it is read from a CPU one).
    layers = layer_table(model)
    weight_decay = weight_decay_by_kind(make_optimizer(model, train_cfg.optimizer, torch.device("cpu")))
    recorder = StepRecorder() if record_steps else None
    hooks = (*on_backward, recorder) if recorder else tuple(on_backward)
    checkpoint = None
    if checkpoints is not None and world.main:
        hook_configs = [getattr(h, "steps", None) for h in on_backward]  # e.g. which steps a recorder keeps
        checkpoint = checkpoints.for_run(name, config_key(
            model=model_cfg.model_dump(), recipe=train_cfg.model_dump(), data=data.meta,
            recording={"steps": record_steps, "hooks": hook_configs}, device=device.type,
            precision=precision_record(device)))
    live = live_history(name) if files is None else None
    with peak_memory(device) as memory:
        result = train(model, data, train_cfg, device=device, run=name, runtime=runtime, on_backward=hooks,
                       checkpoint=checkpoint, world=world, live_history=live)
    last = result.history[-1]
    results = dict(zip(RESULT_KEYS, (
        result.test.accuracy, result.test.loss, last["val_acc"], last["train_acc"], parameters, flops, train_cfg.epochs,
        train_images, len(result.test.labels))))
    timing = {
        "train_seconds": result.train_seconds,
        "images_per_second": result.images_per_second,  # steady state: the first epoch's warm-up excluded
        "steady_epoch_seconds": result.steady_epoch_seconds,
        "epoch_seconds": [row["epoch_seconds"] for row in result.history],  # kept out of history.csv
        "warmup_seconds": result.warmup_seconds,
        "peak_memory_bytes": memory["bytes"],
        "peak_memory_kind": memory["kind"],
        "provenance": where_and_when(device),
    }
    info = {
        "run": name,
        "per_class_test_accuracy": per_class_accuracy(result.test.labels, result.test.predictions),
        "compiled": result.compiled,
        "compile": result.compile,
        "provenance": {**provenance(profile, train_cfg.seed, device, data.meta), **precision_record(device)},
        "config": {"model": model_cfg.model_dump(), "train": train_cfg.model_dump()},
        "runtime": runtime.model_dump(),
        "processes": {"count": world.size, "batch_per_process": local_batch_size(train_cfg.batch_size, world)},
        "layers": layers,
        "weight_decay": weight_decay,
    }
    if not world.main:
        return Run(name, model, result, results, info, timing)
    files = RunFiles.of(name) if files is None else files
    write_history(files.history, result.history)
    if recorder is not None:
        write_csv(files.steps, recorder.frame())
    if predictions:
        write_predictions(files.predictions, result.test)
    if weights:
        save_weights(files.weights, model, info["config"])
    write_json(files.timing, timing)
    write_json(files.info, info)
    write_json(files.results, results)  # last: a run folder with results in it is complete
    return Run(name, model, result, results, info, timing)


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
    model = build_model(model_cfg)
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
