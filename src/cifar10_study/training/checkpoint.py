"""Resumable training: a checkpoint at the end of an epoch at most every `runtime.checkpoint_interval_seconds`
(and after the last epoch), so a killed run loses at most that much training.

A checkpoint holds everything the next epoch depends on: model, optimiser and scheduler state, the
training generator (batch order, augmentation), the global torch / numpy / python RNG states, the
epoch, the history so far and the training time so far. It lives in a git-ignored folder that is not a
DVC output (`.cache/checkpoints/<run>/<key>.pt`), where `key` hashes what the run's result depends on:
its model, recipe, data and device type, and the source of the code the stage runs (CheckpointKey).
A changed param or an edit to that code never resumes a stale run, while an edit elsewhere (the report)
keeps it; a discarded checkpoint says in one line what changed. Written atomically; loaded with
weights_only=True.
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
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..core.fileio import save_torch, write_json

ROOT = Path(".cache/checkpoints")
PACKAGE = __name__.split(".")[0]  # cifar10_study


def code_fingerprint() -> dict[str, str]:
    """A hash of each source file of this package that the running process has imported, plus the entry
    script: the code the stage runs, which is what its dvc.yaml entry declares. A change to a module the
    stage never imports (the report, a figure) leaves its checkpoints valid."""
    files = {Path(m.__file__) for name, m in list(sys.modules.items())
             if (name == PACKAGE or name.startswith(PACKAGE + ".")) and getattr(m, "__file__", None)}
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main and Path(main).suffix == ".py":
        files.add(Path(main))
    return {_display(f): hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in sorted(files)}


def _display(path: Path) -> str:
    """A source file's path from the repository root when it lies there (stages/x.py, src/...), else its name."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return path.name


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CheckpointKey:
    """What a checkpoint belongs to: a digest per part (model, recipe, data, ...) and per source file.
    `key` names the file; `parts` is saved beside it so a discarded checkpoint can say what changed."""

    parts: dict

    @property
    def key(self) -> str:
        return _digest(self.parts)

    def changes_from(self, older: dict) -> list[str]:
        """The parts that differ from an older key's, e.g. ['recipe', 'code: src/.../engine.py']."""
        changed = [name for name in sorted(set(self.parts) | set(older))
                   if name != "code" and self.parts.get(name) != older.get(name)]
        code, old_code = self.parts.get("code", {}), older.get("code", {})
        changed += [f"code: {f}" for f in sorted(set(code) | set(old_code)) if code.get(f) != old_code.get(f)]
        return changed


def config_key(**parts) -> CheckpointKey:
    """The key of a run's checkpoint: each part (JSON-serialisable) digested, plus the code being run."""
    return CheckpointKey({**{name: _digest(value) for name, value in parts.items()}, "code": code_fingerprint()})


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
        except Exception as exc:  # a damaged file (e.g. a full disk during an older version's write)
            print(f"discarding checkpoint {self.path}: unreadable ({type(exc).__name__}); the run starts afresh",
                  file=sys.stderr)
            return None

    def due(self, last_epoch: bool) -> bool:
        return last_epoch or time.monotonic() - self._last_save >= self.interval_seconds

    def save(self, state: dict) -> None:
        self.wait()  # one write at a time, in order
        snapshot = to_host(state)
        self._last_save = time.monotonic()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        # immediate: a checkpoint must exist while the stage runs (not wait for the stage's outputs)
        self._pending = self._writer.submit(save_torch, snapshot, self.path, True)

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

    def for_run(self, run: str, key: CheckpointKey) -> Checkpoint:
        """The run's checkpoint under `key`. One left by another config or other code can never resume:
        it is deleted, with one line saying what changed."""
        folder = self.root / run
        for stale in folder.glob("*.pt"):
            if stale.stem == key.key:
                continue
            sidecar = stale.with_suffix(".json")
            older = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
            what = ", ".join(key.changes_from(older)) if older else "written by an older version"
            print(f"discarding checkpoint {stale} of run {run}: {what} changed since it was written",
                  file=sys.stderr)
            stale.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / f"{key.key}.json", key.parts, immediate=True)
        return Checkpoint(folder / f"{key.key}.pt", self.interval_seconds)

    def clear(self) -> None:
        """Remove every checkpoint of this stage (called once the stage has written all its outputs), and
        the folders above it that this leaves empty (stage4/ of stage4/seed_0), up to the root's."""
        folder = self.root / self.prefix
        shutil.rmtree(folder, ignore_errors=True)
        for parent in folder.parents:
            if parent == self.root.parent or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()


@contextlib.contextmanager
def stage_checkpoints(prefix: str, interval_seconds: float = 0.0, clear: bool = True) -> Iterator[Checkpoints]:
    """Checkpoints for the runs of one stage, removed only when the stage's body completes (by the one
    process that writes them: `clear`)."""
    checkpoints = Checkpoints(prefix, interval_seconds=interval_seconds)
    yield checkpoints
    if clear:
        checkpoints.clear()
