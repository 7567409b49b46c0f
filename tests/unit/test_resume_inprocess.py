"""Resume in one process, in seconds (tests/e2e/test_resume.py does the same with a real SIGKILL, in
minutes): a run killed after epoch k restarts at epoch k + 1 with its hooks' records and every random
state restored, and ends exactly where the uninterrupted run ends; a damaged checkpoint is discarded or
refused with a message; a checkpoint written under another key is deleted with what changed."""
from __future__ import annotations

import json
import random
import re

import numpy as np
import pandas as pd
import pytest
import torch

from cifar10_study.core.errors import StudyError
from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.training.checkpoint import Checkpoint, CheckpointKey, Checkpoints, config_key, stage_checkpoints
from cifar10_study.training.engine import train
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.recorders import StepRecorder
from cifar10_study.training.train_run import build_seeded
from helpers import learnable_splits

CPU = torch.device("cpu")
MODEL = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)
STEPS = 128 // 32  # per epoch
# Crop, flip and MixUp draw from the run's generator and from torch's global one: both must come back.
CFG = TrainConfig.model_validate({
    "epochs": 4, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "schedule": {"name": "cosine"}, "augment": {"crop_padding": 2, "flip": True}, "mixup_alpha": 0.4, "seed": 0})


def data():
    return learnable_splits(n_train=128, n_val=32, n_test=32)


class Killed(Exception):
    pass


class KillAt:
    """A backward hook that stops the run at global step `step` (0-based), as a kill would: mid-epoch,
    after the last checkpoint. It has no state of its own to save."""

    def __init__(self, step: int):
        self.step = step

    def __call__(self, step, model, loss):
        if step == self.step:
            raise Killed


def no_times(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in history]


@pytest.fixture(scope="module")
def uninterrupted():
    recorder = StepRecorder()
    model = build_seeded(MODEL, 0)
    result = train(model, data(), CFG, device=CPU, on_backward=(recorder,))
    return model, result, recorder.frame()


def test_a_killed_run_resumes_after_its_last_epoch_and_ends_identical(tmp_path, capsys, uninterrupted):
    ref_model, ref, ref_steps = uninterrupted
    data_, checkpoint = data(), Checkpoint(tmp_path / "run.pt")  # interval 0: every epoch
    with pytest.raises(Killed):
        train(build_seeded(MODEL, 0), data_, CFG, device=CPU, run="demo", checkpoint=checkpoint,
              on_backward=(StepRecorder(), KillAt(2 * STEPS + 3)))  # in epoch 3
    killed_history = torch.load(checkpoint.path, weights_only=True)["history"]
    assert [row["epoch"] for row in killed_history] == [1, 2]
    # Anything the process did meanwhile must not matter: the checkpoint holds every random state.
    torch.manual_seed(123), np.random.seed(4), random.seed(5)
    recorder = StepRecorder()
    model = build_seeded(MODEL, 7)  # a fresh model, other weights: the checkpoint's replace them
    capsys.readouterr()
    result = train(model, data_, CFG, device=CPU, run="demo", checkpoint=checkpoint, on_backward=(recorder,))
    assert f"resuming demo from epoch 3 (checkpoint {checkpoint.path})" in capsys.readouterr().err
    # Epochs 1-2 come from the checkpoint as recorded; this process trained epochs 3 and 4 only.
    assert result.history[:2] == killed_history
    assert result.first_epoch_seconds == result.history[2]["epoch_seconds"]
    assert result.train_seconds == pytest.approx(sum(row["epoch_seconds"] for row in result.history))
    # ... and it ends bit-identical to the run that was never killed: history, weights, test predictions.
    assert no_times(result.history) == no_times(ref.history)
    for (name, got), want in zip(model.state_dict().items(), ref_model.state_dict().values()):
        assert torch.equal(got, want), name
    assert (result.test.predictions == ref.test.predictions).all() and result.test.loss == ref.test.loss
    # The recorder's first 8 steps came back from the checkpoint; all 16 match the uninterrupted run's.
    pd.testing.assert_frame_equal(recorder.frame(), ref_steps)
    assert len(ref_steps) == 4 * STEPS


def test_an_unreadable_checkpoint_is_discarded_and_the_run_starts_afresh(tmp_path, capsys, uninterrupted):
    _, ref, _ = uninterrupted
    checkpoint = Checkpoint(tmp_path / "run.pt")
    checkpoint.path.write_bytes(b"half a checkpoint")
    result = train(build_seeded(MODEL, 0), data(), CFG, device=CPU, checkpoint=checkpoint)
    err = capsys.readouterr().err
    assert re.search(rf"discarding checkpoint {re.escape(str(checkpoint.path))}: "
                     r"unreadable \(\w+\); the run starts afresh", err)
    assert "resuming" not in err
    assert no_times(result.history) == no_times(ref.history)
    assert torch.load(checkpoint.path, weights_only=True)["epoch"] == 4  # replaced by this run's own


def test_a_checkpoint_that_does_not_fit_the_run_is_refused_with_what_to_do(tmp_path):
    checkpoint = Checkpoint(tmp_path / "run.pt")
    torch.save({"epoch": 1, "model": {"not.a.weight": torch.zeros(1)}}, checkpoint.path)
    with pytest.raises(StudyError, match=rf"(?s)checkpoint {re.escape(str(checkpoint.path))} cannot be restored "
                                         r"\(.*\); delete it and rerun"):
        train(build_seeded(MODEL, 0), data(), CFG, device=CPU, checkpoint=checkpoint)


def test_on_a_rank_other_than_0_a_checkpoint_that_does_not_fit_is_refused_the_same_way(monkeypatch):
    """Rank 0 alone reads the file and sends its content; another rank has no checkpoint object to name."""
    from cifar10_study.training import state as state_module
    from cifar10_study.training.distributed import World

    monkeypatch.setattr(state_module, "broadcast_object", lambda value, world: {"epoch": 1, "model": {"x": 1}})
    model = build_seeded(MODEL, 0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = state_module.TrainState(model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0),
                                    torch.Generator())
    with pytest.raises(StudyError, match=r"(?s)checkpoint sent by rank 0 cannot be restored \(.*\); delete it"):
        state_module.resume(state, None, "run", World(rank=1, size=2))


def test_checkpoints_for_run_deletes_one_written_under_another_key_and_says_what_changed(tmp_path, capsys):
    checkpoints = Checkpoints("stagex", root=tmp_path)
    old_key = config_key(model={"channels": [8, 16]}, recipe={"lr": 0.1})
    old = checkpoints.for_run("stagex/seed_0", old_key)
    old.save({"epoch": 1})
    old.wait()
    assert json.loads(old.path.with_suffix(".json").read_text()) == old_key.parts
    # The same key finds the same file and keeps it.
    assert checkpoints.for_run("stagex/seed_0", old_key).path == old.path and old.path.is_file()
    assert "discarding" not in capsys.readouterr().err

    new_key = config_key(model={"channels": [8, 16]}, recipe={"lr": 0.2})
    new = checkpoints.for_run("stagex/seed_0", new_key)
    assert new.path != old.path and new.load() is None
    assert not old.path.exists() and not old.path.with_suffix(".json").exists()
    assert (f"discarding checkpoint {old.path} of run stagex/seed_0: recipe changed since it was written"
            in capsys.readouterr().err)
    assert sorted(p.name for p in (tmp_path / "stagex/seed_0").iterdir()) == [f"{new_key.key}.json"]

    # Without its record of the key, a leftover file still goes, as written by an older version.
    orphan = tmp_path / "stagex/seed_0/0123456789abcdef.pt"
    orphan.write_bytes(b"")
    checkpoints.for_run("stagex/seed_0", new_key)
    assert not orphan.exists()
    assert "0123456789abcdef.pt of run stagex/seed_0: written by an older version changed" in capsys.readouterr().err


def test_a_key_names_every_part_and_source_file_that_changed():
    key = CheckpointKey({"model": "m1", "recipe": "r2", "code": {"src/a.py": "1", "src/b.py": "2"}})
    older = {"model": "m1", "recipe": "r1", "data": "d", "code": {"src/a.py": "0", "src/c.py": "3"}}
    assert key.changes_from(older) == ["data", "recipe", "code: src/a.py", "code: src/b.py", "code: src/c.py"]
    assert key.changes_from(key.parts) == []
    assert key.key == CheckpointKey(dict(key.parts)).key != CheckpointKey({**key.parts, "model": "m2"}).key


def test_a_stage_keeps_its_checkpoints_until_its_body_completes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Killed):
        with stage_checkpoints("stagey") as checkpoints:
            checkpoint = checkpoints.for_run("stagey/seed_0", config_key(recipe={}))
            checkpoint.save({"epoch": 1})
            checkpoint.wait()  # as train() does before it returns or raises
            raise Killed
    assert list((tmp_path / ".cache/checkpoints/stagey/seed_0").glob("*.pt"))  # kept for the rerun
    with stage_checkpoints("stagey"):
        pass
    assert not (tmp_path / ".cache/checkpoints/stagey").exists()
