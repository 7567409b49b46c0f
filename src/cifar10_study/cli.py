"""What every stage entry point shares: one-line errors, params loading, device and determinism."""
from __future__ import annotations

import functools
import sys
from typing import Callable

import torch

from .config import Params, load_params
from .engine import pick_device
from .errors import StudyError


def stage_entry(main: Callable[[], None]) -> Callable[[], None]:
    """Run `main`; a StudyError becomes `error: <one line>` on stderr and exit status 2."""

    @functools.wraps(main)
    def wrapper() -> None:
        try:
            main()
        except StudyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def setup(params_path: str = "params.yaml") -> tuple[Params, torch.device]:
    """Validate params.yaml (before any work) and choose the device; CPU runs are made deterministic."""
    params = load_params(params_path)
    device = pick_device()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    return params, device
