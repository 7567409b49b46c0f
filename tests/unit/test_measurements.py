"""What the machine measured stays out of every output DVC tracks: a table's measured columns go to the timing
file beside it, and the project's .dvcignore makes DVC ignore every timing file (and nothing else the pipeline
reads or writes), so an identical rerun leaves the outputs' hashes and dvc.lock unchanged."""
from __future__ import annotations

import shutil
import subprocess

import pandas as pd

from cifar10_study.analysis.measurements import MEASURED, TIMING_CSV, write_apart
from cifar10_study.analysis.outputs import TIMING_KEYS
from helpers import ROOT, dvc


def test_a_tables_measured_columns_go_to_the_timing_file_beside_it(tmp_path):
    table = pd.DataFrame({"variant": ["a", "b"], "test_accuracy": [0.5, 0.6], "mean_epoch_seconds": [1.5, 2.5],
                          "peak_memory_bytes": [10, 20], "images_per_second": [100.0, 90.0]})
    write_apart(tmp_path / "variants.csv", table, key="variant")
    assert pd.read_csv(tmp_path / "variants.csv").equals(table[["variant", "test_accuracy"]])
    assert pd.read_csv(tmp_path / TIMING_CSV).equals(
        table[["variant", "mean_epoch_seconds", "peak_memory_bytes", "images_per_second"]])
    assert set(TIMING_KEYS) <= MEASURED


def test_a_table_without_measurements_writes_no_timing_file(tmp_path):
    write_apart(tmp_path / "widths.csv", pd.DataFrame({"width": [1, 2], "parameters": [10, 40]}), key="width")
    assert not (tmp_path / TIMING_CSV).exists()


IGNORED = ["runs/stage1/timing.json", "runs/stage2/width_x2/timing.json", "plots/stage2/timing.csv",
           "plots/stage1_experiments/timing.csv", "reports/timing.md", "reports/tables/timing.csv",
           "reports/figures/timing/convergence.png"]
TRACKED = ["runs/stage1/results.json", "plots/stage2/variants.csv", "reports/report.md", "reports/summary.md",
           "reports/tables/summary.csv", "reports/figures/convergence.png", "metrics/stage1.json",
           "src/cifar10_study/analysis/measurements.py", "src/cifar10_study/reporting/timing_report.py"]


def test_dvc_ignores_every_timing_file_and_nothing_else(tmp_path):
    shutil.copy(ROOT / ".dvcignore", tmp_path / ".dvcignore")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert dvc(tmp_path, "init", "-q").returncode == 0
    for path in IGNORED + TRACKED:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    checked = dvc(tmp_path, "check-ignore", *IGNORED, *TRACKED)
    assert sorted(checked.stdout.split()) == sorted(IGNORED), checked.stdout
