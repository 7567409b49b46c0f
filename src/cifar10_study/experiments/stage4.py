"""Stage 4: ResNet-18 (CIFAR variant) with the published recipe, one run per seed (each a DVC stage).

The architecture is fixed (models/residual.py, 11,173,962 parameters); params.yaml holds the recipe
(stage4.train and its profile overrides) and the seeds with the profiles that train them. Stage 5 trains
the same network and recipe with its components added, so the two stages differ only in those.
"""
from __future__ import annotations

import torch

from ..core.config import Params, TrainConfig, seed_number
from ..core.errors import ConfigError
from ..core.fileio import write_json
from ..data.cifar10 import Splits
from ..models.residual import ResNet18Config
from ..training.checkpoint import Checkpoints
from ..training.distributed import SINGLE, World
from ..training.runs import RUNS, Run, train_run

STAGE = "stage4"


def recipe(params: Params) -> TrainConfig:
    """The Stage 4 recipe at the params' profile (the seed is set per run from `seeds`)."""
    return params.stage4.train_for(params.profile)


def seeds(params: Params) -> list[int]:
    """The seeds trained at the active profile."""
    return params.stage4.seeds_for(params.profile)


def skipped(params: Params, seed: str, run: str) -> bool:
    """Whether `seed` (a key of stage4.seeds) is left out at the active profile. If so, its run folder gets
    only a skipped.json saying why: DVC runs a stage for every seed (see Stage4Config)."""
    if seed not in params.stage4.seeds:
        raise ConfigError(f"unknown seed {seed!r}; stage4.seeds has {', '.join(params.stage4.seeds)}")
    profiles = params.stage4.seeds[seed]
    if params.profile in profiles:
        return False
    reason = f"{seed} trains at the {', '.join(profiles)} profile(s), not at {params.profile}"
    write_json(RUNS / run / "skipped.json", {"seed": seed_number(seed), "profile": params.profile, "reason": reason})
    print(f"{run}: skipped: {reason}")
    return True


def run(params: Params, data: Splits, device: torch.device, seed: str, checkpoints: Checkpoints | None = None,
        world: World = SINGLE) -> Run:
    """Train ResNet-18 with the given seed (a key of stage4.seeds) into runs/stage4/<seed>/, in one process
    or shared by the `world` of processes torchrun started."""
    return train_run(f"{STAGE}/{seed}", ResNet18Config(name="resnet18"),
                     recipe(params).model_copy(update={"seed": seed_number(seed)}), data, profile=params.profile,
                     device=device, runtime=params.runtime, predictions=True, checkpoints=checkpoints, world=world)
