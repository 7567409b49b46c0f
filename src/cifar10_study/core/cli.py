"""What every stage entry point shares: all-or-nothing outputs written from one fixed params.yaml, and a
StudyError, or a failed read or write (disk full, no permission), as one line on stderr and exit status 2."""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from ruamel.yaml import YAML

from .errors import StudyError
from .fileio import all_or_nothing
from .params_file import PARAMS


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out |= _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: node}


def _read(path: Path) -> dict[str, Any]:
    try:
        return _flatten(YAML(typ="safe", pure=True).load(path.read_text()) or {})
    except Exception:  # unreadable now: compare as a different file
        return {"<params.yaml>": path.read_text() if path.is_file() else None}


def pinned_params(path: Path = PARAMS) -> Callable[[], None]:
    """A check that params.yaml still holds what it held when the stage started, but for `runtime` (which
    never changes results). DVC records the params in dvc.lock when a stage ends: outputs computed from
    other values must not be written under them."""
    start = _read(path) if path.is_file() else None

    def check() -> None:
        if start is None:
            return
        now = _read(path)
        changed = sorted(k for k in start.keys() | now.keys()
                         if start.get(k) != now.get(k) and not k.startswith("runtime."))
        if changed:
            key = changed[0]
            raise StudyError(f"{path} changed while {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])} ran "
                             f"({key}: {start.get(key)!r} -> {now.get(key)!r}); nothing was written: rerun")
    return check


def stage_entry(main: Callable[[], None]) -> Callable[[], None]:
    """Run `main` with all-or-nothing outputs (fileio.all_or_nothing): every file it writes is moved into
    place only when it has finished and params.yaml has not changed meanwhile (pinned_params). A
    StudyError or OSError becomes `error: <one line>` on stderr and exit status 2, and the previous
    outputs stay complete."""

    @functools.wraps(main)
    def wrapper() -> None:
        try:
            with all_or_nothing(before_commit=pinned_params()):
                main()
        except StudyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            print(f"error: cannot access{where}: {exc.strerror or exc}; free disk space or fix the folder's "
                  f"permissions, then rerun (nothing was written: the previous outputs are untouched)",
                  file=sys.stderr)
            sys.exit(2)

    return wrapper


def stage_argument(what: str, required: bool, valid: Iterable[str] | None = None, position: int = 1) -> str | None:
    """The stage's command-line argument at `position` (dvc.yaml passes it, e.g. `stages/stage2.py ${key}`);
    a missing required one, or one not in `valid`, is a StudyError that says what is expected."""
    if len(sys.argv) <= position:
        if required:
            raise StudyError(f"usage: python {sys.argv[0]} <{what}>" + (f", one of: {', '.join(valid)}" if valid else
                                                                         " (dvc.yaml passes it)"))
        return None
    if valid is not None and sys.argv[position] not in valid:
        raise StudyError(f"unknown {what} {sys.argv[position]!r}; valid: {', '.join(valid)}")
    return sys.argv[position]
