"""benchmarks/airbench_calibration.py on CPU: its summary arithmetic, the no-GPU line, and its run loop against a
stand-in for airbench (the real one trains on CUDA only), so the GPU command's calibration step cannot rot."""
from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest
import torch

from helpers import ROOT, write_archive

spec = importlib.util.spec_from_file_location("airbench_calibration", ROOT / "benchmarks/airbench_calibration.py")
calibration = importlib.util.module_from_spec(spec)
spec.loader.exec_module(calibration)
PER_BATCH = 20


def test_summarize_gives_the_mean_spread_and_the_published_gap():
    s = calibration.summarize([93.0, 93.5, 94.0], published=94.01)
    assert s == {"n": 3, "mean": 93.5, "std": 0.5, "published_mean": 94.01, "difference": 0.51}
    assert calibration.summarize([92.0], 96.05)["std"] is None
    assert calibration.summarize([], 94.01)["mean"] is None


def test_without_cuda_it_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert calibration.main([str(tmp_path / "a.tar.gz"), str(tmp_path / "out.json")]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not (tmp_path / "out.json").exists()


class FakeAirbench(types.ModuleType):
    """airbench's interface as calibrate uses it; records the calls and where they ran."""

    def __init__(self):
        super().__init__("airbench")
        self.calls, self.accuracy = [], iter([0.931, 0.935, 0.962])
        for variant, tta in (("airbench94", 2), ("airbench96", 2)):
            setattr(self, f"lib_{variant}", types.SimpleNamespace(hyp={"net": {"tta_level": tta}}))
            setattr(self, f"train{variant[-2:]}", self._trainer(variant))

    def _trainer(self, variant):
        def train(run, verbose):
            assert Path("cifar10/train.pt").is_file() and Path("cifar10/test.pt").is_file()  # read relatively
            self.calls.append((variant, run))
            return object()
        return train

    def CifarLoader(self, path, train, batch_size):
        assert path == "cifar10" and train is False
        return "test loader"

    def evaluate(self, model, loader, tta_level):
        assert loader == "test loader" and tta_level == 2
        return next(self.accuracy)


@pytest.fixture
def fake_airbench(monkeypatch) -> FakeAirbench:
    fake = FakeAirbench()
    monkeypatch.setitem(sys.modules, "airbench", fake)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "a test double")
    real = calibration.write_airbench_data  # the tiny archive's batches hold PER_BATCH images
    monkeypatch.setattr(calibration, "write_airbench_data", lambda source, out: real(source, out, PER_BATCH))
    return fake


def test_the_runs_skip_the_warmups_and_each_one_is_written(tmp_path, fake_airbench):
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", per_batch=PER_BATCH)
    out, cwd = tmp_path / "calibration.json", Path.cwd()
    record = calibration.calibrate(archive, out, {"airbench94": 2, "airbench96": 1}, deadline=float("inf"))
    assert fake_airbench.calls == [("airbench94", -1), ("airbench94", 0), ("airbench94", 1), ("airbench96", -1),
                                   ("airbench96", 0)]
    assert record["runs"]["airbench94"]["accuracy"] == [93.1, 93.5] and record["airbench94"]["mean"] == 93.3
    assert record["airbench96"] == {"n": 1, "mean": 96.2, "std": None, "published_mean": 96.05, "difference": -0.15}
    assert json.loads(out.read_text()) == record and Path.cwd() == cwd


def test_a_passed_deadline_starts_no_run(tmp_path, fake_airbench):
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", per_batch=PER_BATCH)
    record = calibration.calibrate(archive, tmp_path / "c.json", {"airbench94": 3, "airbench96": 1}, deadline=0)
    assert fake_airbench.calls == [] and record["airbench94"]["n"] == record["airbench96"]["n"] == 0
