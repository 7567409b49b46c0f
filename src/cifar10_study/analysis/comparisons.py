"""Stage 5 against Stage 4 and against its own ablations, with uncertainty, from the runs' files.

A configuration is a train_seeds summary (metrics/<name>.json) plus, per seed, the test predictions
(plots/<name>/seed_<s>/predictions.csv). Two configurations are compared by Welch's t interval on
their per-seed test accuracies and by the exact McNemar test on per-image correctness of matched seeds
(same seed, same test images); stats.verdict turns those into "better", "worse" or "no significant
difference".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import StudyError
from ..core.fileio import read_json
from .stats import pooled_mcnemar, verdict, welch_difference


@dataclass(frozen=True)
class SeededRuns:
    name: str  # e.g. "stage4", "stage5_ablations/no_se"
    summary: dict  # metrics/<name>.json
    accuracy: dict[int, float]  # seed -> test accuracy
    correct: dict[int, np.ndarray]  # seed -> bool [test images], prediction == label
    per_seed: dict[int, dict] = field(default_factory=dict)  # seed -> that run's metrics/<name>/seed_<s>.json
    histories: dict[int, pd.DataFrame] = field(default_factory=dict)  # seed -> per-epoch history

    @classmethod
    def load(cls, name: str, metrics_dir: Path = Path("metrics"), plots_dir: Path = Path("plots")) -> "SeededRuns":
        """Every file of the configuration, each read once."""
        summary = read_json(metrics_dir / f"{name}.json")
        accuracy, correct, per_seed, histories = {}, {}, {}, {}
        for seed in summary["seeds"]:
            per_seed[seed] = read_json(metrics_dir / name / f"seed_{seed}.json")
            accuracy[seed] = per_seed[seed]["test_accuracy"]
            predictions = pd.read_csv(plots_dir / name / f"seed_{seed}" / "predictions.csv")
            correct[seed] = (predictions["actual"] == predictions["predicted"]).to_numpy()
            histories[seed] = pd.read_csv(plots_dir / name / f"seed_{seed}" / "history.csv")
        return cls(name, summary, accuracy, correct, per_seed, histories)


def compare(a: SeededRuns, b: SeededRuns, confidence: float = 0.95) -> dict:
    """A against B: difference of mean test accuracy with its Welch CI, pooled McNemar over the seeds
    both have, and the verdict for A ("better" = A is better)."""
    welch = welch_difference(list(a.accuracy.values()), list(b.accuracy.values()), confidence)
    matched = sorted(set(a.correct) & set(b.correct))
    if not matched or any(len(a.correct[s]) != len(b.correct[s]) for s in matched):
        raise StudyError(f"{a.name} and {b.name} were not run on the same seeds and test images; rerun both "
                         f"with the current params (dvc repro)")
    paired = pooled_mcnemar([(a.correct[s], b.correct[s]) for s in matched])
    word, basis = verdict(welch, paired)
    return {"a": a.name, "b": b.name, "welch": welch, "mcnemar": paired, "verdict": word, "basis": basis}
