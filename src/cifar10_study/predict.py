"""Classify image files with a trained run's model: `python -m cifar10_study.predict RUN_DIR IMAGE... [--top K]`.

Each image is read by data.images.read_image (the one preprocessing rule: upright, RGB, centre square, bicubic
to 32x32) and normalised as in training (augment.normalize), then the model's softmax gives the probability
of each class; the K likeliest are printed, likeliest first, one per line under the image's path. Every image
is read before any is classified, so a bad one stops the command before it prints anything. Runs on the CPU.
No stage runs this module.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .core.cli import CommandParser, command_entry
from .data import CLASSES, NUM_CLASSES
from .data.augment import normalize
from .data.images import read_image
from .run_folder import add_precision_argument, add_run_dir_argument, chosen_precision, load_run, reproduction_note
from .training.device import autocast, to_memory_format, use_precision

DEVICE = torch.device("cpu")


@torch.inference_mode()
def probabilities(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, 32, 32] -> float32 [N, 10]: the model's softmax over the classes, in eval mode and the
    layout and precision evaluation uses (training.evaluation.evaluate), so a dataset image gets the
    probabilities evaluation gives it."""
    model = to_memory_format(model.eval(), DEVICE)
    with autocast(DEVICE):
        logits = model(to_memory_format(normalize(images), DEVICE))
    return logits.float().softmax(1)


def top_classes(probs: torch.Tensor, k: int) -> list[list[tuple[str, float]]]:
    """Each image's k likeliest classes with their probabilities, likeliest first."""
    values, indices = probs.topk(k, dim=1)
    return [[(CLASSES[i], float(p)) for p, i in zip(row_p.tolist(), row_i.tolist())]
            for row_p, row_i in zip(values, indices)]


def _top(value: str) -> int:
    k = int(value) if value.isdigit() else 0
    if not 1 <= k <= NUM_CLASSES:
        raise argparse.ArgumentTypeError(f"--top must be a whole number from 1 to {NUM_CLASSES}, got {value!r}")
    return k


def parser() -> CommandParser:
    p = CommandParser(
        prog="python -m cifar10_study.predict",
        description="Print the likeliest CIFAR-10 classes of each image, with their probabilities, by the model a "
                    "run trained. Images of any size are made CIFAR-like first: turned upright, converted to RGB, "
                    "cropped to their centred square and resized to 32x32 (bicubic).",
        epilog="example: python -m cifar10_study.predict runs/stage1/seed_0 cat.jpg ship.png --top 5")
    add_run_dir_argument(p)
    p.add_argument("images", metavar="IMAGE", type=Path, nargs="+", help="PNG or JPEG image files")
    add_precision_argument(p)
    p.add_argument("--top", metavar="K", type=_top, default=3, help="classes to print per image (default 3)")
    return p


@command_entry
def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run = load_run(args.run_dir)
    use_precision(chosen_precision(args.precision, run))
    note = reproduction_note(run, DEVICE)
    if note:
        print(note, file=sys.stderr)
    images = torch.cat([read_image(path) for path in args.images])
    width = max(map(len, CLASSES))
    for path, top in zip(args.images, top_classes(probabilities(run.model, images), args.top)):
        print(path, *(f"  {rank}. {name:<{width}}  {p:.4f}" for rank, (name, p) in enumerate(top, 1)), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
