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
from helpers import copy_pipeline, pipeline_env, set_param


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = copy_pipeline(tmp_path_factory.mktemp("resume"))
    set_param(repo, "stage1.smoke.epochs", 12)
    set_param(repo, "runtime.checkpoint_interval_seconds", 0.0)  # every epoch, so a kill finds one to resume
    subprocess.run([sys.executable, "stages/download.py"], cwd=repo, env=pipeline_env(repo), check=True,
                   capture_output=True)
    return repo


def run_stage(repo):
    return subprocess.run([sys.executable, "stages/stage1.py", "seed_0"], cwd=repo, env=pipeline_env(repo),
                          capture_output=True, text=True)


def kill_after_an_epoch(repo) -> int:
    """Start stage1@seed_0, SIGKILL it as soon as a checkpoint exists (one finished epoch); the epoch it holds."""
    proc = subprocess.Popen([sys.executable, "stages/stage1.py", "seed_0"], cwd=repo, env=pipeline_env(repo),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder, deadline = repo / ".cache/checkpoints/stage1/seed_0", time.monotonic() + 120
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
    return read_json(repo / "runs/stage1/seed_0/results.json"), pd.read_csv(repo / "runs/stage1/seed_0/history.csv")


def test_killed_run_resumes_and_matches_the_uninterrupted_run(repo):
    first = run_stage(repo)
    assert first.returncode == 0, first.stderr
    reference = results(repo)
    assert not (repo / ".cache/checkpoints/stage1/seed_0").exists()  # a finished stage leaves no checkpoint

    (repo / "runs/stage1/seed_0/results.json").unlink()
    kill_after_an_epoch(repo)
    assert not (repo / "runs/stage1/seed_0/results.json").exists()  # nothing that looks like a success

    resumed = run_stage(repo)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming stage1/seed_0 from epoch" in resumed.stderr
    metrics, history = results(repo)
    assert metrics == reference[0]
    pd.testing.assert_frame_equal(history, reference[1])
    assert not (repo / ".cache/checkpoints/stage1/seed_0").exists()


def test_a_changed_param_never_resumes_a_stale_checkpoint(repo):
    kill_after_an_epoch(repo)
    [stale] = (repo / ".cache/checkpoints/stage1/seed_0").glob("*.pt")
    original = (repo / "params.yaml").read_text()
    try:
        set_param(repo, "stage1.train.optimizer.lr", 0.02)
        result = run_stage(repo)
        assert result.returncode == 0, result.stderr
        assert "resuming" not in result.stderr
        assert (f"discarding checkpoint {stale.relative_to(repo)} of run stage1/seed_0: recipe changed since it "
                "was written") in result.stderr
        assert not stale.exists()
    finally:
        (repo / "params.yaml").write_text(original)


def test_an_edit_to_code_the_stage_does_not_run_keeps_its_checkpoint(repo):
    """The key covers the code the stage imports: editing the report resumes; editing the engine does not."""
    report, engine = repo / "src/cifar10_study/reporting/report.py", repo / "src/cifar10_study/training/engine.py"
    originals = {f: f.read_text() for f in (report, engine)}
    try:
        kill_after_an_epoch(repo)
        report.write_text(originals[report] + "\n# an edited sentence\n")
        resumed = run_stage(repo)
        assert resumed.returncode == 0 and "resuming stage1/seed_0 from epoch" in resumed.stderr, resumed.stderr
        kill_after_an_epoch(repo)
        engine.write_text(originals[engine] + "\n# an edited loop\n")
        restarted = run_stage(repo)
        assert restarted.returncode == 0 and "resuming" not in restarted.stderr
        assert "code: src/cifar10_study/training/engine.py changed" in restarted.stderr
    finally:
        for f, text in originals.items():
            f.write_text(text)


def test_params_edited_while_a_stage_trains_stop_it_before_it_writes(repo):
    """DVC reads params at a stage's end: a run must not write outputs under params it did not use."""
    first = run_stage(repo)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in (repo / "runs/stage1/seed_0").iterdir()}
    original = (repo / "params.yaml").read_text()
    proc = subprocess.Popen([sys.executable, "stages/stage1.py", "seed_0"], cwd=repo, env=pipeline_env(repo),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder, deadline = repo / ".cache/checkpoints/stage1/seed_0", time.monotonic() + 120
    while not any(folder.glob("*.pt")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    try:
        set_param(repo, "stage1.smoke.epochs", 13)  # while epochs 2..12 train
        _, err = proc.communicate(timeout=300)
    finally:
        (repo / "params.yaml").write_text(original)
    assert proc.returncode == 2
    # The epochs' progress lines, then the one error line.
    *progress, error = err.strip().splitlines()
    assert error == ("error: params.yaml changed while stage1.py seed_0 ran (stage1.smoke.epochs: 12 -> 13); "
                     "nothing was written: rerun")
    assert all(line.startswith("stage1/seed_0 epoch ") for line in progress)
    assert {p.name: p.read_bytes() for p in (repo / "runs/stage1/seed_0").iterdir()} == before

