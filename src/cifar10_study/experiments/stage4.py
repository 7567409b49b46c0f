"""Stage 4: ResNet-18 (CIFAR variant) with the published recipe, one run per seed (each a DVC stage).

The architecture is fixed (models/residual.py, 11,173,962 parameters); params.yaml holds the recipe
(stage4.train and its profile overrides) and the seeds with the profiles that train them. Stage 5 trains
the same network and recipe with its components added, so the two stages differ only in those.
"""
from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field, model_validator

from ..core.errors import ConfigError
from ..core.fileio import write_json
from ..core.layout import RUNS, SKIP_MARKER, STAGE4, seed_number, seeds_trained
from ..core.schema import PROFILES, Profile
from ..data.cifar10 import Splits
from ..models.residual import ResNet18Config
from ..training.checkpoint import Checkpoints
from ..training.distributed import SINGLE, World
from ..training.recipe import TrainConfig, TrainSection
from ..training.stage import TrainingView
from ..training.train_run import Run, train_run

SeedName = Annotated[str, Field(pattern=r"^seed_[0-9]+$")]

MODEL = ResNet18Config(name="resnet18")  # the CIFAR variant of He et al. 2016, as published


class Stage4Config(TrainSection):
    """ResNet-18 (CIFAR variant, fixed architecture) trained with the published recipe, once per seed.

    `seeds` maps each seed (`seed_<n>`) to the profiles that train it. Every seed is its own DVC stage
    (stage4@seed_<n>, stage5@seed_<n>, ...): DVC cannot expand a list picked by ${profile}, so the stages
    exist for every seed, and a seed whose list lacks the active profile is skipped in a second. A seed
    stage declares only its own entry, so adding a seed to a profile retrains nothing else.
    """

    seeds: dict[SeedName, Annotated[list[Profile], Field(min_length=1)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _seeds_cover_every_profile(self):
        for name, profiles in self.seeds.items():
            if len(set(profiles)) != len(profiles):
                raise ValueError(f"seeds.{name}: each profile once, got {profiles}")
        missing = [p for p in PROFILES if not self.seeds_for(p)]
        if missing:
            raise ValueError(f"seeds: no seed trains at the {', '.join(missing)} profile; list it under a seed")
        return self

    @model_validator(mode="after")
    def _seed_set_once(self):
        if "seed" in self.train.model_fields_set or any("seed" in getattr(self, p) for p in PROFILES):
            raise ValueError("the seeds come from stage4.seeds; do not set seed in stage4.train/full/quick/smoke")
        return self

    def seeds_for(self, profile: Profile) -> list[int]:
        """The seeds trained at `profile`, ascending."""
        return seeds_trained(self.seeds, profile)


class Stage4Params(TrainingView):
    """What a stage4@<seed> stage reads."""

    stage4: Stage4Config


def recipe(params: Stage4Params) -> TrainConfig:
    """The Stage 4 recipe at the params' profile (the seed is set per run from `seeds`)."""
    return params.stage4.train_for(params.profile)


def seeds(params: Stage4Params) -> list[int]:
    """The seeds trained at the active profile."""
    return params.stage4.seeds_for(params.profile)


def skip_untrained_seed(params: Stage4Params, seed: str, run: str) -> bool:
    """Whether `seed` (a key of stage4.seeds) is left out at the active profile. If so, write its run folder's
    only file, skipped.json, saying why (DVC runs a stage for every seed, see Stage4Config), and say so."""
    if seed not in params.stage4.seeds:
        raise ConfigError(f"unknown seed {seed!r}; stage4.seeds has {', '.join(params.stage4.seeds)}")
    profiles = params.stage4.seeds[seed]
    if params.profile in profiles:
        return False
    reason = f"{seed} trains at the {', '.join(profiles)} profile(s), not at {params.profile}"
    write_json(RUNS / run / SKIP_MARKER, {"seed": seed_number(seed), "profile": params.profile, "reason": reason})
    print(f"{run}: skipped: {reason}")
    return True


def train(params: Stage4Params, data: Splits, device: torch.device, seed: str, checkpoints: Checkpoints | None = None,
          world: World = SINGLE) -> Run:
    """Train ResNet-18 with the given seed (a key of stage4.seeds) into runs/stage4/<seed>/, in one process
    or shared by the `world` of processes torchrun started."""
    return train_run(f"{STAGE4}/{seed}", MODEL,
                     recipe(params).model_copy(update={"seed": seed_number(seed)}), data, profile=params.profile,
                     device=device, runtime=params.runtime, predictions=True, checkpoints=checkpoints, world=world)
