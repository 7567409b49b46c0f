"""Stage 5 against Stage 4 and against its own ablations, with uncertainty, from the runs' files.

A configuration is its runs over seeds (runs/<name>/seed_<s>/: results, info, history and test
predictions), with their mean and spread. Two configurations are compared by Welch's t interval on their
per-seed test accuracies and by the exact McNemar test on per-image correctness of matched seeds (same
seed, same test images); stats.verdict turns those into "better", "worse" or "no significant difference".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.errors import StudyError
from . import runs as run_files
from .stats import pooled_mcnemar, summarize, verdict, welch_difference

# Results summarised over seeds as {"n", "mean", "std"}.
SUMMARISED = ("test_accuracy", "test_loss", "final_val_accuracy", "final_train_accuracy", "train_seconds",
              "images_per_second")
# The same for every seed of a configuration: taken from its first seed.
SHARED = ("params", "flops_per_image", "epochs", "train_images", "test_images", "peak_memory_bytes",
          "peak_memory_kind", "compiled", "compile", "runtime")


@dataclass(frozen=True)
class SeededRuns:
    name: str  # e.g. "stage4", "stage5_ablations/no_se"
    summary: dict  # SUMMARISED over seeds, SHARED, seeds, provenance and config (the seed left out)
    accuracy: dict[int, float]  # seed -> test accuracy
    correct: dict[int, np.ndarray]  # seed -> bool [test images], prediction == label
    per_seed: dict[int, dict] = field(default_factory=dict)  # seed -> that run's record (results + info)
    histories: dict[int, pd.DataFrame] = field(default_factory=dict)  # seed -> per-epoch history

    @classmethod
    def load(cls, name: str, seeds: list[int]) -> "SeededRuns":
        """Every file of the configuration's runs, each read once."""
        per_seed, correct, histories = {}, {}, {}
        for seed in seeds:
            run = f"{name}/seed_{seed}"
            per_seed[seed] = run_files.read_run(run)
            predictions = run_files.predictions(run)
            correct[seed] = (predictions["actual"] == predictions["predicted"]).to_numpy()
            histories[seed] = run_files.history(run)
        first = per_seed[seeds[0]]
        summary = {
            "run": name, "seeds": list(seeds),
            **{key: summarize([m[key] for m in per_seed.values()]) for key in SUMMARISED},
            **{key: first[key] for key in SHARED},
            "provenance": {k: v for k, v in first["provenance"].items() if k != "seed"},
            "config": {"model": first["config"]["model"],
                       "train": {k: v for k, v in first["config"]["train"].items() if k != "seed"}},
        }
        accuracy = {seed: m["test_accuracy"] for seed, m in per_seed.items()}
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
