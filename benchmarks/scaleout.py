"""Wall time of the smoke pipeline's training stages on 1 worker against 2 workers sharing one DVC cache,
through the project's own local recipe, `scaleout/local_gpus.sh N STAGE...` (git worktrees whose `dvc cache
dir` is one shared folder, each reproducing its share of `python -m cifar10_study.experiments.stage_list`,
then the checkout restoring every stage from the run cache), on this machine.

    python benchmarks/scaleout.py

Each case starts from a fresh copy of the pipeline at the smoke profile on a tiny synthetic archive (the
end-to-end tests' copy), with its own empty cache; preparing the data (`dvc repro download`) comes first
and is not timed. Both cases pay the same worktree and final-restore overheads.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from helpers import copy_pipeline  # noqa: E402  (the tests' pipeline copy: tracked files + tiny archive)


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"scaleout: {' '.join(cmd)} failed in {cwd}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def pipeline_copy(target: Path, env: dict) -> Path:
    """A committed git repository with the pipeline at the smoke profile, its data prepared."""
    target.mkdir(parents=True)
    copy_pipeline(target)
    run(["git", "add", "-A"], target, env)
    run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", "bench"], target, env)
    run([sys.executable, "-m", "dvc", "repro", "download"], target, env)
    return target


def stages(repo: Path, env: dict) -> list[str]:
    return run([sys.executable, "-m", "cifar10_study.experiments.stage_list"], repo, env).split()


def workers(repo: Path, env: dict, n: int) -> float:
    """Seconds for scaleout/local_gpus.sh with n workers to train every training stage and restore them here."""
    training = stages(repo, env)
    started = time.perf_counter()
    run(["bash", "scaleout/local_gpus.sh", str(n), *training], repo, env)
    return time.perf_counter() - started


def main() -> None:
    env = {**os.environ, "PYTHONPATH": "src", "PYTHON": sys.executable,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:
        single = workers(pipeline_copy(Path(tmp) / "one" / "repo", env), env, 1)
        double = workers(pipeline_copy(Path(tmp) / "two" / "repo", env), env, 2)
        count = len(stages(Path(tmp) / "one" / "repo", env))
    print(f"smoke profile, {count} training stages, {os.cpu_count()} CPU cores")
    print(f"1 worker : {single:6.1f} s")
    print(f"2 workers: {double:6.1f} s (sharing one DVC cache; speed-up {single / double:.2f}x)")


if __name__ == "__main__":
    main()
