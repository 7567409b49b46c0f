"""A Stage 1-3 configuration against the reference it is compared with, judged against the seed-noise floor.

Each side is its runs over seeds (comparisons.SeededRuns). The difference of their mean test accuracies counts
as an effect only beyond what retraining with other seeds gives (stats.seed_noise_test: Welch's t test with
seeds on both sides, the reference's prediction interval for one run against several seeds); a difference
inside that floor is "within seed noise", whatever the test images say. The exact McNemar test on the test
images of matched seeds is reported beside it, labelled as what it measures: test-image sampling only.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import StudyError
from .comparisons import SeededRuns
from .stats import NO_SEED_SPREAD, p_text, pooled_mcnemar, seed_noise_test


def points(x: float) -> str:
    return f"{100 * x:+.2f} points"


@dataclass(frozen=True)
class Difference:
    """Configuration A against reference B: the difference of mean test accuracy over their seeds, the
    seed-noise floor it is judged against, and McNemar's image-level p value."""

    difference: float  # mean(A) - mean(B), accuracy in [-1, 1]
    floor: float | None  # the largest difference seed noise alone reaches at 1 - alpha; None: not measured
    p_value: float | None  # the seed-noise test's (stats.seed_noise_test), None where no floor is measured
    basis: str  # which seed-noise test (stats.WELCH_BASIS, PREDICTION_BASIS or NO_SEED_SPREAD)
    seeds: tuple[int, int]  # (A's seeds, B's seeds)
    mcnemar_p: float  # exact McNemar on the test images of the seeds both trained: test-image sampling only
    alpha: float

    @classmethod
    def of(cls, a: SeededRuns, reference: SeededRuns, alpha: float) -> "Difference":
        test = seed_noise_test(list(a.accuracy.values()), list(reference.accuracy.values()), alpha)
        matched = sorted(set(a.correct) & set(reference.correct))
        if not matched or any(len(a.correct[s]) != len(reference.correct[s]) for s in matched):
            raise StudyError(f"{a.name} and {reference.name} share no seed trained on the same test images; rerun "
                             f"both with the current params (dvc repro)")
        images = pooled_mcnemar([(a.correct[s], reference.correct[s]) for s in matched])
        return cls(test["difference"], test["floor"], test["p_value"], test["basis"],
                   (test["n_a"], test["n_reference"]), images["p_value"], alpha)

    @property
    def beyond_noise(self) -> bool:
        """Whether the difference is beyond the seed-noise floor (never where the floor is not measured)."""
        return self.p_value is not None and self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        if self.p_value is None:
            return NO_SEED_SPREAD
        return "beyond seed noise" if self.beyond_noise else "within seed noise"

    def metrics(self) -> dict:
        """The comparison as a metrics file holds it."""
        return {"difference": self.difference, "seed_noise_floor": self.floor, "p_seed_noise": self.p_value,
                "beyond_seed_noise": self.beyond_noise, "p_mcnemar_test_images": self.mcnemar_p}

    @property
    def floor_text(self) -> str:
        """The floor as a table cell: "±1.23 points" or "not measured"."""
        return "not measured" if self.floor is None else f"±{100 * self.floor:.2f} points"

    def __str__(self) -> str:
        seeds = f"{self.seeds[0]} against {self.seeds[1]} seed(s)"
        floor = "" if self.floor is None else f", seed-noise floor {self.floor_text}"
        return (f"{points(self.difference)} ({seeds}{floor}: {self.verdict}; McNemar p {p_text(self.mcnemar_p)}, "
                f"test images only)")
