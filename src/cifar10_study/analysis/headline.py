"""The study's headline, from the other analysis stages' metrics files: each stage's test accuracy, Stage 5
against Stage 4 (the primary test) and the calibration change, in `metrics/headline.json`.

It exists for the views a user compares experiments with (`./run.sh headline`, `./run.sh headline-diff`,
see cifar10_study.views): a handful of short, flat keys that fit beside the changed params in 120
columns of `dvc exp show`, where the full metrics files have hundreds. So its values are rounded for
reading (accuracies and ECE in percent to 2 decimals, p as text to 2 significant digits); the unrounded ones are
in metrics/stage*.json. At a profile whose Stages 4-5 are a pipeline check (stage45_results.pipeline_check)
the numbers are there and the verdict reads NO_VERDICT.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..core.fileio import read_json, write_json
from ..core.schema import Profile, View
from .outputs import METRICS
from .stage2_results import best_variant
from .stage45_results import PRIMARY, pipeline_check

HEADLINE = METRICS / "headline.json"
SOURCES = tuple(METRICS / f"stage{n}.json" for n in range(1, 6))

# key -> what it is (the README's table of the headline view is checked against this).
KEYS = {
    "acc1": "Stage 1 test accuracy (%), the baseline CNN, mean over seeds",
    "acc2": "Stage 2 test accuracy (%) of the variant with the best validation accuracy, mean over seeds",
    "acc3": "Stage 3 test accuracy (%), the full modern CNN, mean over seeds",
    "acc4": "Stage 4 test accuracy (%), ResNet-18, mean over seeds",
    "acc5": "Stage 5 test accuracy (%), SE-ResNet-18 + MixUp + Cutout, mean over seeds",
    "d_acc": "acc5 - acc4, in points",
    "p": "p value of the primary test, Stage 5 against Stage 4 (Welch over seeds, else McNemar), as text",
    "verdict": "that test's verdict at statistics.alpha: better, worse or n.s. (no significant difference); "
               "n/a (check) at a profile whose Stages 4-5 only check the pipeline (quick, smoke)",
    "d_ece": "Stage 5's expected calibration error minus Stage 4's, in points (negative: better calibrated)",
}
# The verdict in few letters: "no significant difference" alone would take a fifth of the view's width.
SHORT_VERDICT = {"better": "better", "worse": "worse", "no significant difference": "n.s."}
NO_VERDICT = "n/a (check)"  # stage45_results.no_verdict, short for the same reason


class HeadlineParams(View):
    """What the headline stage reads of params.yaml: the profile, which says whether a verdict stands."""

    profile: Profile


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else round(100 * fraction, 2)


def _significant(p: float | None, digits: int = 2) -> str | None:
    """p to `digits` significant digits, as text: `dvc metrics diff` rounds numbers to a fixed number of
    decimals, which would print a p of 3.4e-15 as 0.0 (seen on this study's quick run)."""
    return None if p is None else f"{p:.{digits}g}"


def headline(stage1: dict, stage2: dict, stage3: dict, stage4: dict, stage5: dict, profile: str) -> dict[str, Any]:
    """The headline (KEYS, in that order) from the contents of metrics/stage1.json .. stage5.json, at `profile`."""
    variants = pd.DataFrame([{"variant": name, **v} for name, v in stage2["variants"].items()])
    best = best_variant(variants)
    full = stage5["configurations"]["stage5"]
    primary = stage5["comparisons"][PRIMARY]
    ece_change = stage5["calibration"][PRIMARY]["ece_difference"]
    return {
        "acc1": _percent(stage1["test_accuracy"]),
        "acc2": _percent(stage2["variants"][best]["test_accuracy"]),
        "acc3": _percent(stage3["configurations"]["stage3"]["test_accuracy"]),
        "acc4": _percent(stage4["test_accuracy"]["mean"]),
        "acc5": _percent(full["test_accuracy"]["mean"]),
        "d_acc": _percent(primary["difference"]),
        "p": _significant(primary["p"]),
        "verdict": NO_VERDICT if pipeline_check(profile) else SHORT_VERDICT.get(primary["verdict"]),
        "d_ece": _percent(ece_change),
    }


def write_outputs(params: HeadlineParams) -> None:
    write_json(HEADLINE, headline(*(read_json(path) for path in SOURCES), params.profile))
