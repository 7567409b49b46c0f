"""The code state something was made at: git's HEAD commit and whether the checkout differs from it."""
from __future__ import annotations

import subprocess


def git_state() -> dict:
    """HEAD's commit and whether tracked files differ from it (during `dvc repro` dvc.lock usually does);
    None for both outside a git repository."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(dirty)}
