"""Resumable training: a checkpoint at the end of an epoch at most every `runtime.checkpoint_interval_seconds`
(and after the last epoch), so a killed run loses at most that much training.

A checkpoint holds everything the next epoch depends on: model, optimiser and scheduler state, the
training generator (batch order, augmentation), the global torch / numpy / python RNG states, the
epoch, the history so far and the training time so far. It lives in a git-ignored folder that is not a
DVC output (`.cache/checkpoints/<run>/<key>.pt`), where `key` hashes the run's resolved config and
data, so a changed param never resumes a stale run. Written atomically; loaded with weights_only=True.
Saving copies the state to host memory (the only time the training device waits) and writes the file
on a background thread while the next epoch trains.

A run's final checkpoint stays until its stage has finished (`Checkpoints.clear()`), so a stage that
trains several runs and is killed during the fifth resumes the fifth and reuses the first four.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..core.fileio import save_torch

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


def to_host(state: Any) -> Any:
    """A copy of `state` (nested dicts/lists/tuples) with every tensor copied to CPU memory: the copy the
    background writer saves while training goes on updating the originals in place."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: to_host(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(to_host(v) for v in state)
    return state


class Checkpoint:
    """One run's checkpoint file; `key` (the file name) identifies the exact config it belongs to.

    `due()` says whether an epoch's end should save: the last epoch always, otherwise once at least
    `interval_seconds` have passed since the run started or last saved. `save()` returns as soon as the
    state is in host memory; `wait()` blocks until the file is on disk (and raises what the write raised).
    """

    def __init__(self, path: Path, interval_seconds: float = 0.0):
        self.path, self.interval_seconds = Path(path), interval_seconds
        self._last_save = time.monotonic()
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    def load(self) -> dict | None:
        if not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # a checkpoint from an older layout or a damaged file: start the run afresh
            return None

    def due(self, last_epoch: bool) -> bool:
        return last_epoch or time.monotonic() - self._last_save >= self.interval_seconds

    def save(self, state: dict) -> None:
        self.wait()  # one write at a time, in order
        snapshot = to_host(state)
        self._last_save = time.monotonic()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._pending = self._writer.submit(save_torch, snapshot, self.path)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


@dataclass(frozen=True)
class Checkpoints:
    """The checkpoints of one stage's runs: run names start with `prefix`."""

    prefix: str
    root: Path = ROOT
    interval_seconds: float = 0.0  # see Checkpoint.due

    def for_run(self, run: str, key: str) -> Checkpoint:
        folder = self.root / run
        # Checkpoints of the same run under another config can never resume: drop them.
        for stale in folder.glob("*.pt"):
            if stale.stem != key:
                stale.unlink(missing_ok=True)
        return Checkpoint(folder / f"{key}.pt", self.interval_seconds)

    def clear(self) -> None:
        """Remove every checkpoint of this stage (called once the stage has written all its outputs)."""
        shutil.rmtree(self.root / self.prefix, ignore_errors=True)


@contextlib.contextmanager
def stage_checkpoints(prefix: str, interval_seconds: float = 0.0) -> Iterator[Checkpoints]:
    """Checkpoints for the runs of one stage, removed only when the stage's body completes."""
    checkpoints = Checkpoints(prefix, interval_seconds=interval_seconds)
    yield checkpoints
    checkpoints.clear()
