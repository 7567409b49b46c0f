"""Fixtures the end-to-end modules share."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from filelock import FileLock

from helpers import commit_everything, copy_pipeline, dvc


def reproduce_smoke(repo: Path) -> Path:
    copy_pipeline(repo)
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    commit_everything(repo)  # every test starts from the same committed repo, whatever the order they run in
    return repo


@pytest.fixture(scope="session")
def smoke_repo(tmp_path_factory) -> Path:
    """The smoke pipeline reproduced once on this machine (`dvc repro` in a copy of the tracked files) and
    committed: every test that needs a reproduced pipeline, or the one-machine results to compare with,
    starts from it. A test that changes it puts it back.

    Once for the whole run under pytest-xdist too: the first worker to ask reproduces it in the folder all
    workers' temporary folders share, the others wait for it. Only tests/e2e/test_pipeline.py changes it, and
    its tests all run in one worker (`--dist loadfile`, pyproject.toml); the Slurm test reads its first commit."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return reproduce_smoke(tmp_path_factory.mktemp("pipeline"))
    shared = tmp_path_factory.getbasetemp().parent
    repo, done = shared / "smoke-pipeline", shared / "smoke-pipeline.done"
    with FileLock(shared / "smoke-pipeline.lock"):
        if done.exists():
            return repo
        if repo.exists():
            pytest.fail(f"the smoke pipeline failed in another worker (its error is that worker's); left in {repo}")
        repo.mkdir()
        reproduce_smoke(repo)
        done.touch()
    return repo
