"""Fixtures the end-to-end modules share."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import commit_everything, copy_pipeline, dvc


@pytest.fixture(scope="session")
def smoke_repo(tmp_path_factory) -> Path:
    """The smoke pipeline reproduced once on this machine (`dvc repro` in a copy of the tracked files) and
    committed: every test that needs a reproduced pipeline, or the one-machine results to compare with,
    starts from it. A test that changes it puts it back."""
    repo = copy_pipeline(tmp_path_factory.mktemp("pipeline"))
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    commit_everything(repo)  # every test starts from the same committed repo, whatever the order they run in
    return repo
