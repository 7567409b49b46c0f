"""Progress to watch: one line per epoch on stderr (also when it is not a terminal), the history readable
from its live file while the run trains, a resumed run's live file continuing where its checkpoint left
off, and none of it changing a result."""
from __future__ import annotations

import io
import re

import pandas as pd
import pytest
import torch

from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.training.checkpoint import Checkpoint
from cifar10_study.training.engine import train
from cifar10_study.training.progress import EpochProgress, clock, epoch_line
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.train_run import build_seeded
from helpers import learnable_splits

CPU = torch.device("cpu")
MODEL = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)
STEPS = 128 // 32  # per epoch
CFG = TrainConfig.model_validate({
    "epochs": 3, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "schedule": {"name": "cosine"}, "augment": {"crop_padding": 2, "flip": True}, "seed": 0})
LINE = re.compile(r"^demo epoch (\d)/3  train loss \d+\.\d{4} acc \d+\.\d\d%  val acc \d+\.\d\d%  lr [\d.e-]+  "
                  r"\d+\.\d s/epoch  \d+:\d\d left$")


def data(n_val: int = 32):
    return learnable_splits(n_train=128, n_val=n_val, n_test=32)


class ReadLiveFile:
    """A backward hook that reads the live history at the first step of every epoch, as a user would."""

    def __init__(self, path):
        self.path, self.seen = path, []

    def __call__(self, step, model, loss):
        if step % STEPS == 0:
            self.seen.append(list(pd.read_csv(self.path)["epoch"]) if self.path.exists() else None)


def test_every_epoch_prints_one_line_with_its_figures_and_the_time_left_when_stderr_is_no_terminal(capsys):
    result = train(build_seeded(MODEL, 0), data(), CFG, device=CPU, run="demo")
    err = capsys.readouterr().err  # pytest's capture: not a terminal, so tqdm's step bar stays silent
    lines = [line for line in err.splitlines() if line.startswith("demo epoch")]
    assert [LINE.match(line).group(1) for line in lines] == ["1", "2", "3"], err
    first = result.history[0]
    assert f"train loss {first['train_loss']:.4f} acc {100 * first['train_acc']:.2f}%" in lines[0]
    assert f"val acc {100 * first['val_acc']:.2f}%" in lines[0] and lines[-1].endswith(" 0:00 left")


def test_a_run_without_a_validation_split_prints_no_validation_figure(capsys):
    train(build_seeded(MODEL, 0), data(n_val=0), CFG.model_copy(update={"epochs": 1}), device=CPU, run="demo")
    line = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("demo epoch"))
    assert "val acc" not in line and "train loss" in line


def test_time_left_is_the_epochs_to_go_times_the_typical_later_epoch():
    stream = io.StringIO()
    progress = EpochProgress("r", epochs=10, stream=stream)
    row = {"train_loss": 1.0, "train_acc": 0.5, "val_acc": None, "lr": 0.1}
    history = []
    for epoch, seconds in enumerate([30.0, 10.0, 12.0, 11.0], start=1):  # the first pays a compile warm-up
        history.append({"epoch": epoch, **row})
        progress.epoch_done(history, seconds)
    lines = stream.getvalue().splitlines()
    assert [line.rsplit("  ", 1)[1] for line in lines] == ["4:30 left", "1:20 left", "1:17 left", "1:06 left"]
    assert clock(3725) == "1:02:05" and clock(59.6) == "1:00"


def test_the_history_can_be_read_while_the_run_trains_and_nothing_changes_a_result(tmp_path):
    live = tmp_path / "live" / "demo" / "history.csv"
    live.parent.mkdir(parents=True)
    live.write_text("epoch\n9\n")  # an earlier run's file: gone when this one starts
    reader = ReadLiveFile(live)
    model = build_seeded(MODEL, 0)
    result = train(model, data(), CFG, device=CPU, run="demo", live_history=live, on_backward=(reader,))
    assert reader.seen == [None, [1], [1, 2]]  # after each finished epoch, never a stale one
    written = pd.read_csv(live)
    assert list(written["epoch"]) == [1, 2, 3]
    assert written["val_acc"].tolist() == pytest.approx([row["val_acc"] for row in result.history])
    # The same run without the live file or anyone watching: the same weights and history.
    plain_model = build_seeded(MODEL, 0)
    plain = train(plain_model, data(), CFG, device=CPU, run="demo")
    strip = lambda history: [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in history]
    assert strip(plain.history) == strip(result.history)
    for got, want in zip(model.state_dict().values(), plain_model.state_dict().values()):
        assert torch.equal(got, want)


class Killed(Exception):
    pass


def kill_at(step_to_kill: int):
    def hook(step, model, loss):
        if step == step_to_kill:
            raise Killed
    return hook


def test_a_resumed_run_continues_its_live_history_from_the_checkpoint(tmp_path, capsys):
    live, checkpoint = tmp_path / "history.csv", Checkpoint(tmp_path / "run.pt")  # a checkpoint every epoch
    with pytest.raises(Killed):
        train(build_seeded(MODEL, 0), data(), CFG, device=CPU, run="demo", checkpoint=checkpoint,
              live_history=live, on_backward=(kill_at(STEPS + 1),))  # in epoch 2
    assert list(pd.read_csv(live)["epoch"]) == [1]
    capsys.readouterr()
    reader = ReadLiveFile(live)
    train(build_seeded(MODEL, 0), data(), CFG, device=CPU, run="demo", checkpoint=checkpoint, live_history=live,
          on_backward=(reader,))
    assert reader.seen == [[1], [1, 2]]  # epoch 1 from the checkpoint, kept while epoch 2 trains again
    assert list(pd.read_csv(live)["epoch"]) == [1, 2, 3]
    printed = [line.split()[2] for line in capsys.readouterr().err.splitlines() if line.startswith("demo epoch")]
    assert printed == ["2/3", "3/3"]


def test_the_line_names_the_run_and_its_figures():
    row = {"epoch": 3, "train_loss": 1.23456, "train_acc": 0.551, "val_acc": 0.602, "lr": 0.0999}
    assert epoch_line("stage4/seed_0", row, 200, 12.34, 2412) == (
        "stage4/seed_0 epoch 3/200  train loss 1.2346 acc 55.10%  val acc 60.20%  lr 0.0999  12.3 s/epoch  "
        "40:12 left")
