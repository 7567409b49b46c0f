"""A trained run's folder read back for use (the predict and evaluate commands): its model with the trained
weights, and the recipe and results it recorded. Every problem with the folder is one StudyError line that
says what to do. No stage runs this module: editing it reruns nothing."""
from __future__ import annotations

import argparse
import json
import typing
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError
from torch import nn

from .core.errors import StudyError
from .core.fileio import read_json
from .core.layout import EXPLOSION, VANISHING, RunFiles
from .models.registry import model_config
from .training.device import EvalPrecision, precision_record
from .training.recipe import TrainConfig
from .training.train_run import load_weights

EXAMPLES = "e.g. runs/stage1/seed_0 or runs/stage4/seed_1"


@dataclass(frozen=True)
class TrainedRun:
    files: RunFiles
    model: nn.Module  # on the CPU, in eval mode
    recipe: TrainConfig  # what it trained with (its test_subset: the test images its results were measured on)
    info: dict  # info.json
    results: dict | None  # results.json; None if the folder has none

    @property
    def precision(self) -> EvalPrecision:
        """The precision it trained in, as use_precision takes it: evaluating in it reproduces its results
        where the machine is the same (a run that recorded only its setting: that setting)."""
        recorded = self.info.get("provenance", {})
        if "precision" not in recorded:
            return recorded.get("precision_setting", "auto")
        return "bf16" if recorded["precision"] == "bf16 autocast" else "fp32"


# What the numbers of a model depend on beyond its weights and inputs: where they differ between the run and
# the process evaluating it, its recorded numbers may differ in the last digits.
MACHINE_KEYS = ("device", "cpu_bf16_instructions", "tf32", "precision", "torch_version")


def machine_record(device: torch.device) -> dict:
    """This process's MACHINE_KEYS on `device`, as a run records them in info.json's provenance."""
    return {"device": device.type, "torch_version": torch.__version__, **precision_record(device)}


def reproduction_note(run: TrainedRun, device: torch.device) -> str | None:
    """One line when the device, the CPU's bf16 instructions, the TF32 settings, the precision or torch
    differ between `run`'s training and this process on `device`; None where none does."""
    trained, here = run.info.get("provenance", {}), machine_record(device)
    changed = [key for key in MACHINE_KEYS if trained.get(key) != here.get(key)]
    if not changed:
        return None
    return (f"note: the run trained with {_described(trained, changed)}, this evaluates with "
            f"{_described(here, changed)}: its numbers may differ from the run's in the last digits")


def _described(record: dict, keys: list[str]) -> str:
    return ", ".join(f"{key.replace('_', ' ')} {_value(record.get(key))}" for key in keys)


def _value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return "not recorded" if value is None else str(value)


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    """--precision, for the commands that evaluate a trained run."""
    parser.add_argument("--precision", choices=("run", *typing.get_args(EvalPrecision)), default="run",
                        help="run (default): the precision the run trained in (bf16 autocast or fp32), so that its "
                             "numbers reproduce; auto: this machine's choice; fp32 or bf16 to force one")


def chosen_precision(option: str, run: TrainedRun) -> EvalPrecision:
    return run.precision if option == "run" else option


def load_run(folder: str | Path) -> TrainedRun:
    """The run in `folder` (a run folder under runs/): its model, rebuilt from info.json's config and loaded
    from weights.pt (load_weights: weights_only, architecture checked), and its recorded files."""
    files = RunFiles(Path(folder))
    if not files.folder.is_dir():
        raise StudyError(f"{files.folder}: no such run folder; give a trained run's folder ({EXAMPLES}): "
                         f"`dvc pull` fetches the study's runs, `dvc repro` trains them")
    inner = sorted(str(w.parent) for w in files.folder.rglob(f"*/{files.weights.name}"))
    if not files.weights.is_file() and inner:  # a stage's folder of runs (seeds, variants, ablations)
        shown = ", ".join(inner[:3]) + (f" and {len(inner) - 3} more" if len(inner) > 3 else "")
        raise StudyError(f"{files.folder} holds several runs ({shown}): give one of them as the run folder")
    if not files.weights.is_file():
        raise StudyError(f"{files.weights} does not exist: this run keeps no weights (the stress tests "
                         f"{VANISHING} and {EXPLOSION} keep none) or it was not trained or pulled here; "
                         f"run `dvc pull` for it, or `dvc repro` its stage")
    info = _read(files.info, files)
    try:
        model_cfg = model_config(info["config"]["model"])
        recipe = TrainConfig.model_validate(info["config"]["train"])
    except (KeyError, TypeError, ValidationError) as exc:
        raise StudyError(f"{files.info}: no valid model and training config recorded ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0]}); rerun the stage that writes it") from None
    model = load_weights(files.weights, model_cfg).eval()
    results = _read(files.results, files) if files.results.is_file() else None
    return TrainedRun(files, model, recipe, info, results)


def add_run_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The RUN_DIR argument every command that uses a trained run takes first."""
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                        help=f"a trained run's folder ({EXAMPLES}), holding weights.pt and info.json")


def _read(path: Path, files: RunFiles) -> dict:
    if not path.is_file():
        raise StudyError(f"{path} does not exist: {files.folder} is not a complete run folder; run `dvc pull` "
                         f"for it, or `dvc repro` its stage")
    try:
        return read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StudyError(f"{path}: not valid JSON ({exc}); rerun the stage that writes it") from None
