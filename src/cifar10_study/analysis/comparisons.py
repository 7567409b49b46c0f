"""Stage 5 against Stage 4 and against its own ablations, with uncertainty, from the runs' files.

A configuration is its runs over seeds (runs/<name>/seed_<s>/: results, info, history and test
predictions with their confidence), with their mean and spread. Two configurations are compared by
Welch's t test on their per-seed test accuracies (with its interval) and by the exact McNemar test on
per-image correctness of matched seeds (same seed, same test images); the decisive test (stats.
decisive_test) gives "better", "worse" or "no significant difference" at one significance level, and the
smallest difference the design could detect. A family of comparisons is Holm-adjusted (holm_adjusted).
Calibration (expected calibration error) is compared across seeds the same way (compare_calibration).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.errors import StudyError
from ..core.layout import seed_run, seeds_trained
from ..core.schema import Profile, View
from . import run_records
from .calibration import expected_calibration_error
from .stats import (
    WELCH_BASIS,
    decisive_test,
    detectable_across_seeds,
    detectable_on_images,
    holm,
    pooled_mcnemar,
    summarize,
    verdict,
    welch_difference,
)

# Results summarised over seeds as {"n", "mean", "std"}.
SUMMARISED = ("test_accuracy", "test_loss", "test_ece", "test_nll", "final_val_accuracy", "final_train_accuracy",
              "train_seconds", "images_per_second")
# The same for every seed of a configuration: taken from its first seed.
SHARED = ("parameters", "flops_per_image", "epochs", "train_images", "test_images", "peak_memory_bytes",
          "peak_memory_kind", "compiled", "compile", "runtime")


class SeedSettings(View):
    """A params section's `seeds` as analysis reads them (core/seeds.py validated them)."""

    seeds: dict[str, list[Profile]]  # seed_<n> -> the profiles that train it

    def trained(self, profile: Profile) -> list[int]:
        """The seeds trained at `profile`, ascending."""
        return seeds_trained(self.seeds, profile)


@dataclass(frozen=True)
class SeededRuns:
    name: str  # e.g. "stage4", "stage5_ablations/no_se"
    summary: dict  # SUMMARISED over seeds, SHARED, seeds, provenance and config (the seed left out)
    accuracy: dict[int, float]  # seed -> test accuracy
    correct: dict[int, np.ndarray]  # seed -> bool [test images], prediction == label
    confidence: dict[int, np.ndarray] = field(default_factory=dict)  # seed -> [test images], softmax of the prediction
    per_seed: dict[int, dict] = field(default_factory=dict)  # seed -> that run's record (results + info)
    histories: dict[int, pd.DataFrame] = field(default_factory=dict)  # seed -> per-epoch history
    predictions: dict[int, pd.DataFrame] = field(default_factory=dict)  # seed -> its predictions.csv table

    @classmethod
    def load(cls, name: str, seeds: list[int]) -> "SeededRuns":
        """Every file of configuration `name`'s runs (runs/<name>/seed_<s>/), each read once."""
        return cls.from_runs(name, {seed: seed_run(name, seed) for seed in seeds})

    @classmethod
    def from_runs(cls, name: str, runs: dict[int, str]) -> "SeededRuns":
        """Every file of the runs (seed -> run name, in seed order), each read once."""
        per_seed, correct, confidence, histories, tables = {}, {}, {}, {}, {}
        for seed, run in runs.items():
            per_seed[seed] = run_records.read_run(run)
            predictions = tables[seed] = run_records.predictions(run)
            correct[seed] = run_records.correct(predictions)
            if "confidence" not in predictions:
                raise StudyError(f"{run_records.files(run).predictions}: no confidence column (written by an older "
                                 f"version); rerun the stage (dvc repro -f) to measure calibration")
            confidence[seed] = predictions["confidence"].to_numpy()
            histories[seed] = run_records.history(run)
        for seed, m in per_seed.items():  # calibration, from the test predictions
            m["test_ece"] = expected_calibration_error(confidence[seed], correct[seed])
            m["test_nll"] = m["test_loss"]  # mean cross-entropy of the true class, no label smoothing
        seeds = list(runs)
        first = per_seed[seeds[0]]
        summary = {
            "run": name, "seeds": seeds,
            **{key: _summarize_all([m[key] for m in per_seed.values()]) for key in SUMMARISED},
            **{key: first[key] for key in SHARED},
            "provenance": {k: v for k, v in first["provenance"].items() if k != "seed"},
            "config": {"model": first["config"]["model"],
                       "train": {k: v for k, v in first["config"]["train"].items() if k != "seed"}},
        }
        accuracy = {seed: m["test_accuracy"] for seed, m in per_seed.items()}
        return cls(name, summary, accuracy, correct, confidence, per_seed, histories, tables)

    @property
    def seeds(self) -> list[int]:
        return self.summary["seeds"]

    def mean_record(self) -> dict:
        """A run record (run_records.read_run) for the configuration: its first seed's, with every number of
        SUMMARISED replaced by its mean over the seeds (None where a run has none), and `seeds` and
        `test_accuracy_std` (None for one seed). What a table row or a sentence about the configuration shows."""
        means = {key: None if self.summary[key] is None else self.summary[key]["mean"] for key in SUMMARISED}
        return {**self.per_seed[self.seeds[0]], **means, "seeds": self.seeds,
                "test_accuracy_std": self.summary["test_accuracy"]["std"]}

    def metrics(self, keys: tuple[str, ...] = run_records.METRIC_KEYS) -> dict:
        """What a metrics file holds for the configuration: the mean over its seeds of each result (`keys`), the
        test accuracy's standard deviation over seeds (None for one seed), the seeds, and each seed's results."""
        mean = self.mean_record()
        return {**run_records.lean(mean, keys), "test_accuracy_std": mean["test_accuracy_std"], "seeds": self.seeds,
                "per_seed": {f"seed_{seed}": run_records.lean(record, keys) for seed, record in self.per_seed.items()}}

    def mean_history(self) -> pd.DataFrame:
        """Per epoch, the mean over the seeds of every column of their histories."""
        return pd.concat(self.histories.values()).groupby("epoch", as_index=False).mean()

    @property
    def ece(self) -> dict[int, float]:
        """seed -> expected calibration error of its test predictions."""
        return {seed: m["test_ece"] for seed, m in self.per_seed.items()}

    @property
    def validated(self) -> bool:
        """Whether the runs kept a validation split (not so when they trained on it: train_on_validation)."""
        return self.summary["final_val_accuracy"] is not None


def mean_val_curves(configs: dict[str, SeededRuns]) -> pd.DataFrame:
    """Validation accuracy per epoch, mean over seeds; one column per configuration, index epoch. A
    configuration whose runs trained on the validation split has an empty (NaN) column: the table keeps
    the columns `dvc plots` is declared with."""
    return pd.DataFrame({label: pd.concat([h.set_index("epoch")["val_acc"] for h in runs.histories.values()],
                                          axis=1).mean(axis=1)
                         for label, runs in configs.items()}).rename_axis("epoch")


def _summarize_all(values: list) -> dict | None:
    """summarize(values), or None when a run has no such value (no validation split: final_val_accuracy)."""
    return None if any(v is None for v in values) else summarize(values)


def compare(a: SeededRuns, b: SeededRuns, alpha: float = 0.05, power: float = 0.8) -> dict:
    """A against B: difference of mean test accuracy with its Welch (1 - alpha) interval, pooled McNemar
    over the seeds both have, the decisive test's p value, the smallest difference it could detect with
    probability `power`, and the verdict for A at `alpha` ("better" = A is better)."""
    welch = welch_difference(list(a.accuracy.values()), list(b.accuracy.values()), confidence=1 - alpha)
    matched = sorted(set(a.correct) & set(b.correct))
    if not matched or any(len(a.correct[s]) != len(b.correct[s]) for s in matched):
        raise StudyError(f"{a.name} and {b.name} were not run on the same seeds and test images; rerun both "
                         f"with the current params (dvc repro)")
    paired = pooled_mcnemar([(a.correct[s], b.correct[s]) for s in matched])
    basis, p_value, a_ahead = decisive_test(welch, paired)
    detectable = (detectable_across_seeds(welch, alpha, power) if basis == WELCH_BASIS
                  else detectable_on_images(paired, alpha, power))
    return {"a": a.name, "b": b.name, "welch": welch, "mcnemar": paired, "basis": basis, "p_value": p_value,
            "p_adjusted": p_value, "a_ahead": a_ahead, "alpha": alpha, "power": power, "detectable": detectable,
            "verdict": verdict(p_value, a_ahead, alpha)}


def no_interval_reason(c: dict) -> str | None:
    """Why a comparison (compare's or compare_calibration's) has no Welch interval, None if it has one: one
    seed on a side, or seeds without spread."""
    w = c["welch"]
    if w["ci_low"] is not None:
        return None
    return "one seed each" if min(w["n_a"], w["n_b"]) < 2 else "no spread across seeds"


def holm_adjusted(family: dict[str, dict]) -> dict[str, dict]:
    """The comparisons of one family with their p values Holm-adjusted together (p_adjusted; p_value
    stays the raw one) and the verdicts the adjusted p values give."""
    adjusted = holm([c["p_value"] for c in family.values()])
    return {label: {**c, "p_adjusted": p, "verdict": verdict(p, c["a_ahead"], c["alpha"])}
            for (label, c), p in zip(family.items(), adjusted)}


def compare_calibration(a: SeededRuns, b: SeededRuns, alpha: float = 0.05, power: float = 0.8) -> dict:
    """A's expected calibration error against B's, with the statistics accuracy gets across seeds: Welch
    difference, (1 - alpha) interval, p value, smallest detectable difference. "lower" = A is better
    calibrated; verdict None without a Welch variance (one seed a side): ECE has no per-image test."""
    welch = welch_difference(list(a.ece.values()), list(b.ece.values()), confidence=1 - alpha)
    word = None
    if welch["p_value"] is not None:  # the accuracy verdict's "better" means a larger value: here a higher ECE
        word = {"better": "higher", "worse": "lower"}.get(verdict(welch["p_value"], welch["difference"] > 0, alpha),
                                                          "no significant difference")
    return {"a": a.name, "b": b.name, "welch": welch, "alpha": alpha,
            "detectable": detectable_across_seeds(welch, alpha, power), "verdict": word}
