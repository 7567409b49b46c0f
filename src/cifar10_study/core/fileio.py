"""Atomic file output: write to a temporary file in the same folder, then rename over the target.

A rename within one filesystem is atomic, so a crash (or a full disk) leaves either the previous file
or the new one, never a truncated mix. Every metrics, weights, history and figure file goes through here.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, on failure delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_csv(path: str | os.PathLike, frame, index: bool = False) -> None:
    """A pandas DataFrame as CSV."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index)


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """torch.save, atomically and byte-reproducibly. Saved through memory: torch names the zip's root
    folder after the file it writes to, so saving to the temporary file would give the same weights a
    different hash on every run (and DVC a changed output). A failed write (e.g. a full disk) is an
    OSError, one line for the stage to print, as for any other failed write."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def replace_dir(tmp_dir: Path, target: Path) -> None:
    """Move a fully written folder onto `target`, removing the old one only once the new one is complete."""
    old = target.with_name(f".{target.name}.{os.getpid()}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp_dir, target)
    shutil.rmtree(old, ignore_errors=True)
