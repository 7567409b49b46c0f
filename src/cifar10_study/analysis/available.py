"""Which stages have every run in place: a partial pipeline (or one stage's runs missing) gives a
partial report and summary, never a crash."""
from __future__ import annotations

from ..core.config import Params
from ..experiments import stage1, stage2, stage3, stage4, stage5, stress
from ..training.runs import RUNS
from .runs import exists


def completed_stages(params: Params) -> set[str]:
    """Names among stage1, stage1_experiments, stage2 (the variants), stage2_stress (both stress tests),
    stage3 (with its ablations), stage4 and stage5 (with its ablations), every seed, whose runs all exist."""
    seeds = stage4.seeds(params)

    def seeded(name: str) -> bool:
        return all(exists(f"{name}/seed_{seed}") for seed in seeds)

    checks = {
        "stage1": lambda: exists(stage1.BASELINE),
        "stage1_experiments": lambda: stage1.EXPERIMENT_RECORD.is_file(),  # written after every variant
        "stage2": lambda: all(exists(f"{stage2.STAGE}/{v}") for v in params.stage2.variants),
        "stage2_stress": lambda: all((RUNS / s / stress.RECORD).is_file() for s in (stress.VANISHING, stress.EXPLOSION)),
        "stage3": lambda: all(exists(stage3.run_name(a)) for a in (None, *stage3.ABLATIONS)),
        "stage4": lambda: seeded(stage4.STAGE),
        "stage5": lambda: all(seeded(stage5.run_name(a)) for a in (None, *stage5.ABLATIONS)),
    }
    return {name for name, check in checks.items() if check()}
