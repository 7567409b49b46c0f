"""What every entry point shares: a StudyError, or a failed read or write (disk full, no permission), as one
line on stderr and exit status 2; for a DVC stage, all-or-nothing outputs written from one fixed params.yaml
(stage_entry), for a command a user runs, a command-line parser whose usage errors are such lines too
(command_entry, CommandParser)."""
from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn

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
            fail(str(exc))
        except OSError as exc:
            fail(f"{_cannot_access(exc)}; free disk space or fix the folder's permissions, then rerun "
                 f"(nothing was written: the previous outputs are untouched)")

    return wrapper


def command_entry(main: Callable[..., int | None]) -> Callable[..., int | None]:
    """For a command a user runs (not a DVC stage; it writes nothing): a StudyError, or a failed read, becomes
    `error: <one line>` on stderr and exit status 2, as in stage_entry."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int | None:
        try:
            return main(*args, **kwargs)
        except StudyError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{_cannot_access(exc)}; check the path and its permissions")

    return wrapper


class CommandParser(argparse.ArgumentParser):
    """argparse, but a usage error (a missing or bad argument) is a StudyError, so that under command_entry it
    is one `error:` line and exit status 2 like every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise StudyError(f"{message}; see `{self.prog} --help`")


def fail(message: str) -> NoReturn:
    """Print `error: <message>` on stderr and exit with status 2. The message is joined into one line: a
    wrapped library message must not spill onto lines a reader of the error could take for other errors."""
    print("error: " + " ".join(line.strip() for line in message.strip().splitlines()), file=sys.stderr)
    sys.exit(2)


def _cannot_access(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot access{where}: {exc.strerror or exc}"


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
