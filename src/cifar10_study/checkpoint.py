"""Resumable training: a checkpoint at the end of every epoch, so a killed run loses at most one epoch.

A checkpoint holds everything the next epoch depends on: model, optimiser and scheduler state, the
training generator (batch order, augmentation), the global torch / numpy / python RNG states, the
epoch, the history so far and the training time so far. It lives in a git-ignored folder that is not a
DVC output (`.cache/checkpoints/<run>/<key>.pt`), where `key` hashes the run's resolved config and
data, so a changed param never resumes a stale run. Written atomically; loaded with weights_only=True.

A run's final checkpoint stays until its stage has finished (`Checkpoints.clear()`), so a stage that
trains several runs and is killed during the fifth resumes the fifth and reuses the first four.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .fileio import save_torch

ROOT = Path(".cache/checkpoints")


def code_fingerprint() -> str:
    """A hash of this package's source: a checkpoint written by other code never resumes."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def config_key(*parts) -> str:
    """A short, stable hash of JSON-serialisable parts (resolved config, data identity, ...) and the code."""
    text = json.dumps([code_fingerprint(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rng_state(generator: torch.Generator) -> dict:
    np_state = np.random.get_state()
    state = {
        "generator": generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x):
    """random.setstate wants the nested tuples back (serialisation may turn them into lists)."""
    return tuple(_tuples(i) for i in x) if isinstance(x, (list, tuple)) else x


@dataclass(frozen=True)
class Checkpoint:
    """Where one run's checkpoint lives; `key` identifies the exact config it belongs to."""

    path: Path

    def load(self) -> dict | None:
        if not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # a checkpoint from an older layout or a damaged file: start the run afresh
            return None

    def save(self, state: dict) -> None:
        save_torch(state, self.path)


@dataclass(frozen=True)
class Checkpoints:
    """The checkpoints of one stage's runs: run names start with `prefix`."""

    prefix: str
    root: Path = ROOT

    def for_run(self, run: str, key: str) -> Checkpoint:
        folder = self.root / run
        # Checkpoints of the same run under another config can never resume: drop them.
        for stale in folder.glob("*.pt"):
            if stale.stem != key:
                stale.unlink(missing_ok=True)
        return Checkpoint(folder / f"{key}.pt")

    def clear(self) -> None:
        """Remove every checkpoint of this stage (called once the stage has written all its outputs)."""
        shutil.rmtree(self.root / self.prefix, ignore_errors=True)


@contextlib.contextmanager
def stage_checkpoints(prefix: str) -> Iterator[Checkpoints]:
    """Checkpoints for the runs of one stage, removed only when the stage's body completes."""
    checkpoints = Checkpoints(prefix)
    yield checkpoints
    checkpoints.clear()
