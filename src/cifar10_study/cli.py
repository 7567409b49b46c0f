"""What every stage entry point shares: a StudyError becomes one line on stderr and exit status 2."""
from __future__ import annotations

import functools
import sys
from typing import Callable

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
