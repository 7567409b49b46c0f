"""The training stages the current params train, one per line: what cluster launchers hand out (a Slurm
array task, a SkyPilot job or a local GPU worker per stage).

    python -m cifar10_study.experiments.stage_list                      # every training stage
    python -m cifar10_study.experiments.stage_list --workers 4 --worker 2   # the third of four shares
    python -m cifar10_study.experiments.stage_list --workers 2 --worker 1 stage4@seed_0 stage5@seed_0
                                                          # a share of the stages named instead

A training stage is one whose outputs are runs (runs/...). Seed stages that the active profile does not
train (a stage declaring `<section>.seeds.seed_<n>` whose list lacks the profile: core/seeds.py) are left out:
they only write a skipped marker. Stages are dealt round-robin in dvc.yaml's order, so each share mixes cheap
and expensive ones.
"""
from __future__ import annotations

import argparse
import re
from functools import reduce
from pathlib import Path
from typing import Any

from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo

from ..core.params_file import read_params_file

SEED_KEY = re.compile(r"\.(ablation_)?seeds\.seed_[0-9]+$")  # the one seed entry a seed stage declares


def training_stages(params: dict[str, Any], repo_dir: str | Path = ".") -> list[str]:
    """Names DVC knows the training stages by (e.g. `stage4@seed_0`), in dvc.yaml's order, but for the seed stages
    that `params` (params.yaml as read) do not train at its profile."""
    with Repo(str(repo_dir)) as repo:
        stages = [s for s in repo.index.stages
                  if any(Path(out.def_path).parts[0] == "runs" for out in s.outs)]
        return [s.addressing for s in stages if params["profile"] in _profiles_training(s, params)]


def _profiles_training(stage, params: dict[str, Any]) -> list[str]:
    """The profiles `stage` trains at: its seed entry's list, every profile for a stage with no seed."""
    seed_keys = [key for dep in stage.deps if isinstance(dep, ParamsDependency) for key in dep.params
                 if SEED_KEY.search(key)]
    if not seed_keys:
        return [params["profile"]]
    return reduce(lambda node, key: node[key], seed_keys[0].split("."), params)


def share(names: list[str], workers: int, worker: int) -> list[str]:
    """Worker `worker`'s (0-based) round-robin share of `names`."""
    return names[worker::workers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1, help="split the stages into this many shares")
    parser.add_argument("--worker", type=int, default=0, help="which share to print (0-based)")
    parser.add_argument("stages", nargs="*", help="share these stages instead of every training stage")
    args = parser.parse_args()
    if not 0 <= args.worker < args.workers:
        parser.error(f"--worker must be in 0..{args.workers - 1}")
    names = args.stages or training_stages(read_params_file())
    print("\n".join(share(names, args.workers, args.worker)))


if __name__ == "__main__":
    main()
