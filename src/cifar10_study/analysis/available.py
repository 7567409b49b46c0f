"""Which stages have every run in place: a partial pipeline (or one stage's runs missing) gives a
partial report and summary, never a crash."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..components.stage3_components import STAGE3_COMPONENTS
from ..components.stage5_components import STAGE5_COMPONENTS
from ..components.switches import ablations
from ..core.layout import (
    EXPERIMENT_RECORD,
    EXPLOSION,
    RUNS,
    STAGE1,
    STAGE1_EXPERIMENTS,
    STAGE3,
    STAGE4,
    STAGE5,
    VANISHING,
    run_name,
    seed_run,
    variant_run,
)
from .run_records import exists


@dataclass(frozen=True)
class TrainedSeeds:
    """The seeds each group of configurations trains at the active profile."""

    stage1: list[int]
    stage1_experiments: list[int]
    stage2: list[int]  # every scaling variant's
    stage3: list[int]  # the full model's
    stage3_ablations: list[int]
    stage4: list[int]  # Stage 4's and every Stage 5 configuration's


def completed_stages(variants: Iterable[str], seeds: TrainedSeeds) -> set[str]:
    """Names among stage1, stage1_experiments, stage2 (the scaling `variants`), stress_tests (both stress
    tests), stage3 (with its ablations), stage4 and stage5 (with its ablations) whose runs, every seed the
    profile trains, all exist."""
    def seeded(name: str, trained: list[int]) -> bool:
        return all(exists(seed_run(name, seed)) for seed in trained)

    checks = {
        "stage1": lambda: seeded(STAGE1, seeds.stage1),
        "stage1_experiments": lambda: all((RUNS / seed_run(STAGE1_EXPERIMENTS, seed) / EXPERIMENT_RECORD).is_file()
                                          for seed in seeds.stage1_experiments),  # written last
        "stage2": lambda: all(seeded(variant_run(v), seeds.stage2) for v in variants),
        "stress_tests": lambda: all((RUNS / s / EXPERIMENT_RECORD).is_file() for s in (VANISHING, EXPLOSION)),
        "stage3": lambda: seeded(STAGE3, seeds.stage3) and all(
            seeded(run_name(STAGE3, a), seeds.stage3_ablations) for a in ablations(STAGE3_COMPONENTS)),
        "stage4": lambda: seeded(STAGE4, seeds.stage4),
        "stage5": lambda: all(seeded(run_name(STAGE5, a), seeds.stage4) for a in (None, *ablations(STAGE5_COMPONENTS))),
    }
    return {name for name, check in checks.items() if check()}
