"""Wall time of the smoke pipeline's training stages on 1 worker against 2 workers sharing one DVC cache
(the local recipe of docs/scaling-out.md: git worktrees whose `dvc cache dir` is one shared folder, each
reproducing its share of `python -m cifar10_study.experiments.stage_list`), on this machine.

    python benchmarks/scaleout.py

Each case starts from a fresh copy of the pipeline at the smoke profile on a tiny synthetic archive (the
end-to-end tests' copy), with its own empty cache; preparing the data (`dvc repro download`) comes first
and is not timed.
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
from test_pipeline import copy_pipeline  # noqa: E402  (the tests' pipeline copy: tracked files + tiny archive)


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


def stages(repo: Path, env: dict, *share: str) -> list[str]:
    return run([sys.executable, "-m", "cifar10_study.experiments.stage_list", *share], repo, env).split()


def one_worker(repo: Path, env: dict) -> float:
    started = time.perf_counter()
    run([sys.executable, "-m", "dvc", "repro", *stages(repo, env)], repo, env)
    return time.perf_counter() - started


def two_workers(repo: Path, env: dict) -> float:
    cache = run([sys.executable, "-m", "dvc", "cache", "dir"], repo, env).strip()
    trees = []
    for k in range(2):
        tree = repo.parent / f"worker-{k}"
        run(["git", "worktree", "add", "-q", "--detach", str(tree), "HEAD"], repo, env)
        run([sys.executable, "-m", "dvc", "cache", "dir", "--local", cache], tree, env)
        trees.append((tree, stages(repo, env, "--workers", "2", "--worker", str(k))))
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "dvc", "repro", *share], cwd=tree, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for tree, share in trees]
    outputs = [p.communicate()[0] for p in procs]
    elapsed = time.perf_counter() - started
    if any(p.returncode for p in procs):
        sys.exit("scaleout: a worker failed:\n" + "\n".join(o[-2000:] for o in outputs))
    return elapsed


def main() -> None:
    env = {**os.environ, "PYTHONPATH": "src", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:
        single = one_worker(pipeline_copy(Path(tmp) / "one" / "repo", env), env)
        double = two_workers(pipeline_copy(Path(tmp) / "two" / "repo", env), env)
        count = len(stages(Path(tmp) / "one" / "repo", env))
    print(f"smoke profile, {count} training stages, {os.cpu_count()} CPU cores")
    print(f"1 worker : {single:6.1f} s")
    print(f"2 workers: {double:6.1f} s (sharing one DVC cache; speed-up {single / double:.2f}x)")


if __name__ == "__main__":
    main()
