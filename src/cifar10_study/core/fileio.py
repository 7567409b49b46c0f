"""Atomic file output: write to a temporary file in the same folder, then rename over the target.

A rename within one filesystem is atomic, so a crash (or a full disk) leaves either the previous file
or the new one, never a truncated mix. Every metrics, weights, history and figure file goes through here.

Inside `all_or_nothing()` (every stage runs inside one: core/cli.py) the renames wait until the whole
stage has succeeded: a stage that fails half-way, or is killed, leaves its previous outputs complete and
only temporary files behind (removed on failure). Resume checkpoints and a run's live history are
written `immediate`ly: they must exist while the stage still runs.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Iterator

# The open all_or_nothing() block's writes: target -> the temporary file holding its new content.
_PENDING: ContextVar[dict[Path, Path] | None] = ContextVar("pending_outputs", default=None)


def _remove(tmp: Path) -> None:
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp.exists():
        tmp.unlink()


@contextlib.contextmanager
def all_or_nothing(before_commit: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Every file written through this module in the block goes to a temporary name; all are moved into
    place only once the block has succeeded and `before_commit` (e.g. a check that the params did not
    change meanwhile) has not raised. On any failure the temporaries are removed and every previous
    output stays as it was."""
    pending: dict[Path, Path] = {}
    token = _PENDING.set(pending)
    try:
        yield
        before_commit()
    except BaseException:
        for tmp in pending.values():
            _remove(tmp)
        raise
    finally:
        _PENDING.reset(token)
    for target, tmp in pending.items():
        _move_into_place(tmp, target)


def _move_into_place(tmp: Path, target: Path) -> None:
    if not tmp.is_dir():
        os.replace(tmp, target)
        return
    # A folder cannot be renamed over a non-empty one: set the old one aside, and remove it only once
    # the new one is in place.
    old = target.with_name(f".{target.name}.{os.getpid()}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, immediate: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path` (at once, or when the
    enclosing all_or_nothing() block commits, unless `immediate`); on failure delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pending = None if immediate else _PENDING.get()
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if pending is None:
        os.replace(tmp, path)
    else:
        pending[path] = tmp


def write_text(path: str | os.PathLike, text: str, immediate: bool = False) -> None:
    with atomic_path(path, immediate) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any, immediate: bool = False) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n", immediate)


def write_csv(path: str | os.PathLike, frame, index: bool = False, immediate: bool = False) -> None:
    """A pandas DataFrame as CSV."""
    with atomic_path(path, immediate) as tmp:
        frame.to_csv(tmp, index=index)


def save_torch(obj: Any, path: str | os.PathLike, immediate: bool = False) -> None:
    """torch.save, atomically and byte-reproducibly. Saved through memory: torch names the zip's root
    folder after the file it writes to, so saving to the temporary file would give the same weights a
    different hash on every run (and DVC a changed output). A failed write (e.g. a full disk) is an
    OSError, one line for the stage to print, as for any other failed write."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path, immediate) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def replace_dir(tmp_dir: Path, target: Path) -> None:
    """Move a fully written folder onto `target` (at once, or when the enclosing all_or_nothing() block
    commits), removing the old one only once the new one is in place. Write the files inside `tmp_dir`
    `immediate`ly: the folder is the unit that waits."""
    pending = _PENDING.get()
    if pending is None:
        _move_into_place(tmp_dir, target)
    else:
        pending[target] = tmp_dir
