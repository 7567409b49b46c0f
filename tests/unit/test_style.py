"""One style, enforced: ruff (pyflakes, import order, lines of at most 120 columns; pyproject.toml) passes on
every Python file of the project, so a commit cannot bring back an unused import or an overlong line."""
from __future__ import annotations

import subprocess
import sys

from helpers import ROOT


def test_ruff_finds_nothing_to_fix():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
