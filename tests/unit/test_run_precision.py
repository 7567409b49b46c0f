"""`evaluate` and `predict` evaluate a run in the precision it trained in, whatever this machine would choose,
and say in one line when the device, the CPU's bf16 instructions or the precision differ from the run's.
The CPU's bf16 instructions are mocked (device.cpu_bf16_instructions): the same CPU then stands for one with
and one without them, and the arithmetic it runs is the one the precision names."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cifar10_study import evaluate, predict
from cifar10_study.core.fileio import read_json
from cifar10_study.core.layout import RunFiles
from cifar10_study.data.cifar10 import load_splits, prepare
from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.training import device as device_module
from cifar10_study.training.device import use_precision
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.train_run import train_run
from helpers import write_archive

CPU = torch.device("cpu")
MODEL = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)
RECIPE = TrainConfig.model_validate({"epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05},
                                     "schedule": {"name": "constant"},
                                     "test_subset": 40})
NOTE = "its numbers may differ from the run's in the last digits"


def has_bf16(monkeypatch, present: bool) -> None:
    monkeypatch.setattr(device_module, "cpu_bf16_instructions", lambda: ["avx512_bf16"] if present else [])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    prepare(str(write_archive(root / "cifar-10-python.tar.gz", per_batch=60)), root / "prepared", val_size=50,
            split_seed=0, batch_images=60)
    return root / "prepared"


def trained_on(prepared: Path, folder: Path, monkeypatch, bf16_cpu: bool) -> RunFiles:
    """A run trained at `precision: auto` on a CPU with or without bf16 instructions."""
    has_bf16(monkeypatch, bf16_cpu)
    use_precision("auto")
    files = RunFiles(folder)
    train_run("demo", MODEL, RECIPE, load_splits(prepared), profile="smoke", device=CPU, files=files)
    return files


def evaluated(files: RunFiles, prepared: Path, capsys, *options: str) -> tuple[float, str]:
    """(test loss, printed report) of `evaluate` on the run's own test images."""
    assert evaluate.main([str(files.folder), "--data", str(prepared), "--device", "cpu", *options]) == 0
    out = capsys.readouterr().out
    return float(out.split("test loss")[1].split()[0]), out


@pytest.mark.parametrize("trained_bf16, evaluated_bf16", [(False, True), (True, False)])
def test_evaluate_takes_the_runs_precision_on_a_cpu_that_would_choose_another(
        prepared, tmp_path, monkeypatch, capsys, trained_bf16, evaluated_bf16):
    files = trained_on(prepared, tmp_path / "run", monkeypatch, trained_bf16)
    recorded = read_json(files.results)
    assert read_json(files.info)["provenance"]["precision"] == ("bf16 autocast" if trained_bf16 else "fp32")
    has_bf16(monkeypatch, evaluated_bf16)
    loss, out = evaluated(files, prepared, capsys)
    found = evaluate.evaluate_run(evaluate.load_run(files.folder), prepared, CPU)
    assert (found.loss, found.accuracy) == (recorded["test_loss"], recorded["test_accuracy"])
    assert f"{loss:.4f}" == f"{recorded['test_loss']:.4f}"
    # Exactly reproduced, yet the machines differ, so the command says the last digits may not be.
    notes = [line for line in out.splitlines() if NOTE in line]
    assert len(notes) == 1 and "cpu bf16 instructions" in notes[0], out


def test_evaluate_on_the_machine_the_run_trained_on_reproduces_it_and_notes_nothing(
        prepared, tmp_path, monkeypatch, capsys):
    files = trained_on(prepared, tmp_path / "run", monkeypatch, bf16_cpu=True)
    _, out = evaluated(files, prepared, capsys)
    assert NOTE not in out
    found = evaluate.evaluate_run(evaluate.load_run(files.folder), prepared, CPU)
    assert found.loss == read_json(files.results)["test_loss"] and found.machine_note is None


def test_the_precision_option_overrides_the_runs_and_the_note_names_it(prepared, tmp_path, monkeypatch, capsys):
    files = trained_on(prepared, tmp_path / "run", monkeypatch, bf16_cpu=True)
    _, out = evaluated(files, prepared, capsys, "--precision", "fp32")
    assert device_module._precision == "fp32"
    found = evaluate.evaluate_run(evaluate.load_run(files.folder), prepared, CPU)
    assert found.loss != read_json(files.results)["test_loss"]  # fp32 arithmetic on a bf16 run
    assert "precision bf16 autocast" in out and "precision fp32" in out and NOTE in out


def test_predict_takes_the_runs_precision_and_notes_a_different_machine_on_stderr(
        prepared, tmp_path, monkeypatch, capsys):
    from PIL import Image

    files = trained_on(prepared, tmp_path / "run", monkeypatch, bf16_cpu=True)
    image = tmp_path / "image.png"
    Image.new("RGB", (32, 32), (120, 60, 200)).save(image)
    has_bf16(monkeypatch, False)
    assert predict.main([str(files.folder), str(image)]) == 0
    out = capsys.readouterr()
    assert device_module._precision == "bf16"
    assert NOTE in out.err and NOTE not in out.out
