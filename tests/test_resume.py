"""Interrupted runs: SIGKILL a training stage part-way, rerun it, and get exactly the uninterrupted result."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from cifar10_study.core.fileio import read_json
from test_pipeline import ROOT, _env, copy_pipeline, set_param
from conftest import write_archive

# Fields that measure time or memory, which differ between any two runs.
TIMING = {"train_seconds", "images_per_second", "peak_memory_bytes", "steady_epoch_seconds", "warmup_seconds"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = copy_pipeline(tmp_path_factory.mktemp("resume"))
    set_param(repo, "stage1.smoke.epochs", 12)
    set_param(repo, "runtime.checkpoint_interval_seconds", 0.0)  # every epoch, so a kill finds one to resume
    subprocess.run([sys.executable, "stages/download.py"], cwd=repo, env=_env(repo), check=True, capture_output=True)
    return repo


def run_stage(repo):
    return subprocess.run([sys.executable, "stages/stage1.py"], cwd=repo, env=_env(repo), capture_output=True, text=True)


def kill_after_an_epoch(repo) -> int:
    """Start stage1, SIGKILL it as soon as a checkpoint exists (one finished epoch); the epoch it holds."""
    proc = subprocess.Popen([sys.executable, "stages/stage1.py"], cwd=repo, env=_env(repo),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder, deadline = repo / ".cache/checkpoints/stage1", time.monotonic() + 120
    # Only look for the file while the run goes on (an epoch takes ~0.1 s): reading it would let the run finish.
    while not any(folder.glob("*.pt")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    [checkpoint] = folder.glob("*.pt")  # written atomically: a file that exists is complete
    epoch = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= epoch < 12
    return epoch


def results(repo) -> tuple[dict, pd.DataFrame]:
    metrics = read_json(repo / "metrics/stage1.json")
    history = pd.read_csv(repo / "plots/stage1/history.csv").drop(columns="epoch_seconds")
    return {k: v for k, v in metrics.items() if k not in TIMING}, history


def test_killed_run_resumes_and_matches_the_uninterrupted_run(repo):
    first = run_stage(repo)
    assert first.returncode == 0, first.stderr
    reference = results(repo)
    assert not (repo / ".cache/checkpoints/stage1").exists()  # a finished stage leaves no checkpoint

    (repo / "metrics/stage1.json").unlink()
    kill_after_an_epoch(repo)
    assert not (repo / "metrics/stage1.json").exists()  # nothing that looks like a success

    resumed = run_stage(repo)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming stage1 from epoch" in resumed.stderr
    metrics, history = results(repo)
    assert metrics == reference[0]
    pd.testing.assert_frame_equal(history, reference[1])
    assert not (repo / ".cache/checkpoints/stage1").exists()


def test_a_changed_param_never_resumes_a_stale_checkpoint(repo):
    kill_after_an_epoch(repo)
    [stale] = (repo / ".cache/checkpoints/stage1").glob("*.pt")
    original = (repo / "params.yaml").read_text()
    try:
        set_param(repo, "stage1.train.optimizer.lr", 0.02)
        result = run_stage(repo)
        assert result.returncode == 0, result.stderr
        assert "resuming" not in result.stderr
        assert not stale.exists()
    finally:
        (repo / "params.yaml").write_text(original)
