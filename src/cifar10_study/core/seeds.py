"""The seeds a configuration trains at each profile, and the seed stage a profile leaves out.

A `seeds` key of a params section maps each seed (`seed_<n>`, trained with seed n) to the profiles that train
it. Every seed is its own DVC stage (a foreach over the mapping, e.g. stage1@seed_2): DVC cannot expand a list
chosen by ${profile}, so the stages exist for every seed, and one whose list lacks the active profile is
skipped in a second (it writes only layout.SKIP_MARKER). A seed stage declares only its own entry, so adding
a seed to a profile retrains nothing else.
"""
from __future__ import annotations

from functools import reduce
from operator import getitem
from typing import Annotated

from pydantic import AfterValidator, Field

from .errors import ConfigError
from .fileio import write_json
from .layout import RUNS, SKIP_MARKER, seed_number
from .params_file import PARAMS, read_params_file
from .schema import PROFILES, Profile

SeedName = Annotated[str, Field(pattern=r"^seed_[0-9]+$")]


def _each_profile_once_and_covered(seeds: dict[str, list[str]]) -> dict[str, list[str]]:
    for name, profiles in seeds.items():
        if len(set(profiles)) != len(profiles):
            raise ValueError(f"{name}: each profile once, got {profiles}")
    missing = [p for p in PROFILES if not any(p in profiles for profiles in seeds.values())]
    if missing:
        raise ValueError(f"no seed trains at the {', '.join(missing)} profile; list it under a seed")
    return seeds


# seed_<n> -> the profiles that train it; every profile trains at least one seed.
Seeds = Annotated[dict[SeedName, Annotated[list[Profile], Field(min_length=1)]], Field(min_length=1),
                  AfterValidator(_each_profile_once_and_covered)]


def skip_untrained_seed(where: str, seed: str, run: str) -> bool:
    """Whether `seed` (a key of the `seeds` mapping at params key `where`, e.g. stage1.seeds) is left out at the
    active profile. If so, write run `run`'s only file, the skip marker, saying why, and say so; an unknown seed
    is a ConfigError. Reads params.yaml as check_params validated it, importing no training code, so that a
    skipped seed stage takes a fraction of a second."""
    params = read_params_file(PARAMS)
    seeds, profile = reduce(getitem, where.split("."), params), params["profile"]
    if seed not in seeds:
        raise ConfigError(f"unknown seed {seed!r}; {where} has {', '.join(seeds)}")
    if profile in seeds[seed]:
        return False
    reason = f"{seed} trains at the {', '.join(seeds[seed])} profile(s), not at {profile}"
    write_json(RUNS / run / SKIP_MARKER, {"seed": seed_number(seed), "profile": profile, "reason": reason})
    print(f"{run}: skipped: {reason}")
    return True
