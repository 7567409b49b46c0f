"""Which stages have every run in place: a partial pipeline (or one stage's runs missing) gives a
partial report and summary, never a crash."""
from __future__ import annotations

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


def completed_stages(variants: Iterable[str], seeds: list[int]) -> set[str]:
    """Names among stage1, stage1_experiments, stage2 (the `variants`, with the baseline), stress_tests (both
    stress tests), stage3 (with its ablations), stage4 and stage5 (with its ablations), every one of `seeds`,
    whose runs all exist."""
    def seeded(name: str) -> bool:
        return all(exists(seed_run(name, seed)) for seed in seeds)

    checks = {
        "stage1": lambda: exists(STAGE1),
        "stage1_experiments": lambda: (RUNS / STAGE1_EXPERIMENTS / EXPERIMENT_RECORD).is_file(),  # written last
        "stage2": lambda: all(exists(variant_run(v)) for v in variants),
        "stress_tests": lambda: all((RUNS / s / EXPERIMENT_RECORD).is_file() for s in (VANISHING, EXPLOSION)),
        "stage3": lambda: all(exists(run_name(STAGE3, a)) for a in (None, *ablations(STAGE3_COMPONENTS))),
        "stage4": lambda: seeded(STAGE4),
        "stage5": lambda: all(seeded(run_name(STAGE5, a)) for a in (None, *ablations(STAGE5_COMPONENTS))),
    }
    return {name for name, check in checks.items() if check()}
