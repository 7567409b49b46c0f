"""A trained run's folder read back for use (the predict and evaluate commands): its model with the trained
weights, and the recipe and results it recorded. Every problem with the folder is one StudyError line that
says what to do. No stage runs this module: editing it reruns nothing."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from torch import nn

from .core.errors import StudyError
from .core.fileio import read_json
from .core.layout import EXPLOSION, VANISHING, RunFiles
from .models import model_config
from .training.recipe import TrainConfig
from .training.train_run import load_weights

EXAMPLES = "e.g. runs/stage1 or runs/stage4/seed_0"


@dataclass(frozen=True)
class TrainedRun:
    files: RunFiles
    model: nn.Module  # on the CPU, in eval mode
    recipe: TrainConfig  # what it trained with (its test_subset: the test images its results were measured on)
    info: dict  # info.json
    results: dict | None  # results.json; None if the folder has none

    @property
    def precision(self) -> str:
        """The `precision` setting it trained with (device.py): evaluating in it reproduces its results."""
        return self.info.get("provenance", {}).get("precision_setting", "auto")


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
