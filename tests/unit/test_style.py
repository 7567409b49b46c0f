"""One style, enforced: ruff (pyflakes, import order, lines of at most 120 columns; pyproject.toml) passes on
every Python file of the project, so a commit cannot bring back an unused import or an overlong line; and the
training engine and the report stay in modules of one job each, their functions short enough to read whole."""
from __future__ import annotations

import ast
import subprocess
import sys

from helpers import ROOT

# The size guide for the packages most often changed (docs/design.md): lines per module and per function.
MODULE_LINES, FUNCTION_LINES = 300, 60
GUIDED = ("training", "reporting")


def test_ruff_finds_nothing_to_fix():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_engine_and_the_report_keep_to_the_size_guide():
    oversized = []
    for package in GUIDED:
        for path in sorted((ROOT / "src/cifar10_study" / package).glob("*.py")):
            text = path.read_text()
            if len(text.splitlines()) > MODULE_LINES:
                oversized.append(f"{path.name}: {len(text.splitlines())} lines")
            oversized += [f"{path.name}: {node.name}() {node.end_lineno - node.lineno + 1} lines"
                          for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef)
                          and node.end_lineno - node.lineno + 1 > FUNCTION_LINES]
    assert oversized == [], f"over {MODULE_LINES} lines a module or {FUNCTION_LINES} a function: {oversized}"
