"""The study's headline beside the experiments, in DVC's own views (`./run.sh headline`, `./run.sh
headline-diff`).

A plain `dvc exp show` has hundreds of columns (every metric of every stage, every param, every dependency's
hash), so on any screen the headline is lost. These views keep DVC's commands and add only flags:

    show   dvc exp show --only-changed, keeping the headline's metrics (metrics/headline.json) whether they
           changed or not, and dropping every other column that is not a param: what remains is one row per
           experiment with each stage's accuracy, Stage 5 against Stage 4, and the params that differ.
    diff   dvc metrics diff of all of metrics/headline.json, then dvc params diff: between two revisions
           (branches, commits), or a revision and the workspace.

Extra arguments go to DVC unchanged (e.g. `show -A`, `show --sort-by acc5`, `diff main my-branch --md`).
No stage runs this module: editing it reruns nothing.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Iterable, Sequence

from .analysis.headline import HEADLINE, KEYS
from .core.errors import StudyError
from .core.params_file import read_params_file


def keep_pattern(keys: Iterable[str] = KEYS) -> str:
    """The headline's metric columns, as `dvc exp show` names them: the bare key, or `<file>:<key>` where
    another metrics file has a key of the same name."""
    names = "|".join(map(re.escape, keys))
    return rf"^({re.escape(str(HEADLINE))}:)?({names})$"


def drop_pattern(param_sections: Iterable[str]) -> str:
    """Every column but the experiment's name and the params (`<section>.<key>`): the other metrics, the
    dependencies' hashes, the creation time. Kept columns are protected from it."""
    sections = "|".join(map(re.escape, param_sections))
    return rf"^(?!Experiment$|({sections})(\.|$))"


def show_command(param_sections: Iterable[str], extra: Sequence[str] = ()) -> list[str]:
    return ["dvc", "exp", "show", "--no-pager", "--only-changed",
            "--keep", keep_pattern(), "--drop", drop_pattern(param_sections), *extra]


def diff_commands(extra: Sequence[str] = ()) -> list[list[str]]:
    # --all: the values that did not change too (they say what the change left alone); --precision: DVC
    # rounds to 5 decimals by default, too few for the differences of rounded accuracies (p is text, so no
    # rounding can print it as 0.0); --targets last: it takes every word after it, revisions included.
    return [["dvc", "metrics", "diff", "--all", "--precision", "10", *extra, "--targets", str(HEADLINE)],
            ["dvc", "params", "diff", *extra]]


def main(argv: Sequence[str] = tuple(sys.argv[1:])) -> int:
    view, *extra = argv or ["show"]
    if view == "show":
        try:
            sections = list(read_params_file())
        except StudyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        os.execvp("dvc", show_command(sections, extra))
    if view == "diff":
        codes = [subprocess.run(command).returncode for command in diff_commands(extra)]
        return max(codes)
    print(f"error: unknown view {view!r}: use `show` or `diff`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
