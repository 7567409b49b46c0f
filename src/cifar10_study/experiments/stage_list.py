"""The training stages the current params train, one per line: what cluster launchers hand out (a Slurm
array task, a SkyPilot job or a local GPU worker per stage).

    python -m cifar10_study.experiments.stage_list                      # every training stage
    python -m cifar10_study.experiments.stage_list --workers 4 --worker 2   # the third of four shares
    python -m cifar10_study.experiments.stage_list --workers 2 --worker 1 stage4@seed_0 stage5@seed_0
                                                          # a share of the stages named instead

A training stage is one whose outputs are runs (runs/...). Seed stages that the active profile does not
train (see params.yaml stage4.seeds) are left out: they only write a skipped marker. Stages are dealt
round-robin in dvc.yaml's order, so each share mixes cheap and expensive ones.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from dvc.repo import Repo

from ..core.params_file import load
from .stage4 import Stage4Params


def training_stages(params: Stage4Params, repo_dir: str | Path = ".") -> list[str]:
    """Names DVC knows the training stages by (e.g. `stage4@seed_0`), in dvc.yaml's order."""
    with Repo(str(repo_dir)) as repo:
        stages = [s for s in repo.index.stages
                  if any(Path(out.def_path).parts[0] == "runs" for out in s.outs)]
    names = []
    for stage in stages:
        seed = stage.addressing.rpartition("@")[2]
        if seed in params.stage4.seeds and params.profile not in params.stage4.seeds[seed]:
            continue
        names.append(stage.addressing)
    return names


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
    names = args.stages or training_stages(load(Stage4Params))
    print("\n".join(share(names, args.workers, args.worker)))


if __name__ == "__main__":
    main()
