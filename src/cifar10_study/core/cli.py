"""What every stage entry point shares: a StudyError, or a failed read or write (disk full, no
permission), becomes one line on stderr and exit status 2."""
from __future__ import annotations

import functools
import sys
from typing import Callable, Iterable

from .errors import StudyError


def stage_entry(main: Callable[[], None]) -> Callable[[], None]:
    """Run `main`; a StudyError or OSError becomes `error: <one line>` on stderr and exit status 2.

    Outputs are written atomically (fileio.py), so a failed write leaves the previous version in place.
    """

    @functools.wraps(main)
    def wrapper() -> None:
        try:
            main()
        except StudyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            print(f"error: cannot access{where}: {exc.strerror or exc}; free disk space or fix the folder's "
                  f"permissions, then rerun (the previous outputs are untouched)", file=sys.stderr)
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
