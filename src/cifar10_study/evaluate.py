"""Test a trained run's model on the prepared data: `python -m cifar10_study.evaluate RUN_DIR [--all-test-images]`.

Prints the test accuracy and loss, the accuracy of each class, and the 10x10 confusion matrix (rows: actual
class, columns: predicted class). By default on the run's own test images (its recipe's test_subset, as
engine.run_splits takes them), through the engine's own evaluate, so the accuracy is the one its results.json
records; --all-test-images uses every test image. No stage runs this module.
"""
from __future__ import annotations

import argparse
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from .core.cli import CommandParser, command_entry
from .core.errors import ConfigError, StudyError
from .data import CLASSES
from .data.cifar10 import PREPARED, load_splits
from .run_folder import (
    TrainedRun,
    add_precision_argument,
    add_run_dir_argument,
    chosen_precision,
    load_run,
    reproduction_note,
)
from .training import engine
from .training.device import init_device, to_memory_format
from .training.evaluation import evaluate
from .training.measure import confusion, per_class_accuracy
from .training.runtime import RuntimeConfig

# The devices RuntimeConfig accepts, as its `device` field declares them.
DEVICES = typing.get_args(RuntimeConfig.model_fields["device"].annotation)


@dataclass(frozen=True)
class Evaluation:
    accuracy: float  # fraction correct, 0..1
    loss: float  # mean cross-entropy, nats
    per_class: pd.DataFrame  # index: class; columns: images, correct, accuracy (NaN for a class with no image)
    confusion: pd.DataFrame  # [10, 10] counts; index: actual class, columns: predicted class
    own_test_set: bool  # the run's own test images, so its results.json's test accuracy applies
    data_meta: dict  # the prepared data's meta.json
    machine_note: str | None = None  # what differs from the run's device and precision (reproduction_note)


def evaluate_run(run: TrainedRun, data_dir: Path, device: torch.device, batch_size: int = 1000,
                 all_test_images: bool = False) -> Evaluation:
    """The run's model on the test split of the prepared data in `data_dir`: its own test images
    (engine.run_splits of its recipe) or, with `all_test_images`, every one."""
    data = load_splits(data_dir, device)
    own = engine.run_splits(data, run.recipe)[2]  # the first test_subset test images
    test = data.test if all_test_images else own
    # The layout training evaluated in (channels_last where the engine uses it): the same numbers, not just close.
    model = to_memory_format(run.model.to(device), device)
    result = evaluate(model, test, batch_size, device)
    counts = confusion(result.labels, result.predictions)
    per_class = pd.DataFrame({"images": counts.sum(axis=1), "correct": counts.diagonal(),
                              "accuracy": per_class_accuracy(result.labels, result.predictions).values()},
                             index=pd.Index(CLASSES, name="class"))
    matrix = pd.DataFrame(counts, index=pd.Index(CLASSES, name="actual"), columns=pd.Index(CLASSES, name="predicted"))
    return Evaluation(result.accuracy, result.loss, per_class, matrix, len(test) == len(own), data.meta,
                      reproduction_note(run, device))


def report(run: TrainedRun, data_dir: Path, found: Evaluation) -> str:
    """What the command prints: the headline numbers (beside results.json's, on the run's own test images), a
    note if the prepared data is not what the run was trained on, the per-class table, the confusion matrix."""
    images = int(found.per_class["images"].sum())
    which = "the run's own test images" if found.own_test_set else "every test image"
    recorded = run.results if found.own_test_set else None

    def beside(key: str) -> str:
        return f" (results.json: {recorded[key]:.4f})" if recorded and key in recorded else ""

    lines = [f"{run.files.folder}: {run.info['config']['model']['name']} on {images:,} test images of {data_dir} "
             f"({which})",
             f"test accuracy {found.accuracy:.4f}{beside('test_accuracy')}",
             f"test loss     {found.loss:.4f}{beside('test_loss')}"]
    trained_on = {k: run.info.get("provenance", {}).get(f"data_{k}") for k in ("source", "counts")}
    if trained_on != {k: found.data_meta.get(k) for k in ("source", "counts")}:
        lines.append(f"note: the run was trained on data from {trained_on['source']} ({trained_on['counts']}), "
                     f"{data_dir} holds {found.data_meta.get('source')} ({found.data_meta.get('counts')}): "
                     f"its numbers may differ from the run's")
    if found.machine_note:
        lines.append(found.machine_note)
    accuracy = {"accuracy": lambda a: "-" if pd.isna(a) else f"{a:.4f}"}
    lines += ["", "per-class accuracy", found.per_class.rename_axis(None).to_string(formatters=accuracy),
              "", "confusion matrix (rows: actual class, columns: predicted class)", found.confusion.to_string()]
    return "\n".join(lines)


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"--batch-size must be a whole number of at least 1, got {value!r}")
    return int(value)


def parser() -> CommandParser:
    p = CommandParser(
        prog="python -m cifar10_study.evaluate",
        description="Test a trained run's model: accuracy, loss, per-class accuracy and the confusion matrix "
                    "(rows: actual class, columns: predicted class). By default on the run's own test images (its "
                    "recipe's test_subset), so the accuracy reproduces its results.json.",
        epilog="example: python -m cifar10_study.evaluate runs/stage4/seed_0 --all-test-images")
    add_run_dir_argument(p)
    p.add_argument("--data", metavar="DIR", type=Path, default=PREPARED,
                   help=f"the prepared data folder, as the download stage writes it (default {PREPARED})")
    p.add_argument("--all-test-images", action="store_true",
                   help="every test image of the prepared data, not only the run's own test subset")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto (default): a GPU if torch sees one, else the CPU")
    add_precision_argument(p)
    p.add_argument("--batch-size", metavar="N", type=_positive, default=1000,
                   help="images per forward pass (default 1000); changes speed and memory, not the result")
    return p


@command_entry
def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run = load_run(args.run_dir)
    try:
        # In the precision the run trained in, so that its own test images give its results.json.
        device = init_device(RuntimeConfig(device=args.device), precision=chosen_precision(args.precision, run))
    except ConfigError as exc:  # its words name the params key, which here is the option
        raise StudyError(str(exc).replace("runtime.device", "--device")) from None
    print(report(run, args.data, evaluate_run(run, args.data, device, args.batch_size, args.all_test_images)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
