"""tools/airbench_data.py writes CIFAR-10 as airbench's CifarLoader reads it (train.pt / test.pt), from an
archive in the official layout, checked by the project's reader."""
from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import torch

from cifar10_study.data import CLASSES
from helpers import BATCHES, ROOT, batch_dict, write_archive

SCRIPT = ROOT / "tools/airbench_data.py"
PER_BATCH = 20


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})


def test_train_and_test_hold_every_image_channels_last_in_the_official_order(tmp_path):
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", per_batch=PER_BATCH)
    result = _run(str(archive), "--out", str(tmp_path / "cifar10"), "--batch-images", str(PER_BATCH))
    assert result.returncode == 0, result.stderr
    train = torch.load(tmp_path / "cifar10/train.pt", weights_only=True)  # as CifarLoader loads it
    test = torch.load(tmp_path / "cifar10/test.pt", weights_only=True)
    assert set(train) == set(test) == {"images", "labels", "classes"}
    assert train["images"].shape == (5 * PER_BATCH, 32, 32, 3) and test["images"].shape == (PER_BATCH, 32, 32, 3)
    assert train["images"].dtype == test["images"].dtype == torch.uint8
    assert train["labels"].dtype == torch.int64 and train["classes"] == test["classes"] == list(CLASSES)
    # the batches' rows in order, each row (3,072 values: the red plane, then green, then blue) as H x W x C
    rows = [batch_dict(PER_BATCH, seed=i) for i in range(len(BATCHES))]  # what write_archive wrote
    expected = np.concatenate([r["data"] for r in rows[:5]]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    assert np.array_equal(train["images"].numpy(), expected)
    assert np.array_equal(test["images"].numpy(), rows[5]["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert train["labels"].tolist() == [label for r in rows[:5] for label in r["labels"]]
    assert test["labels"].tolist() == rows[5]["labels"]


def test_a_bad_archive_is_one_line_and_writes_nothing(tmp_path):
    archive = write_archive(tmp_path / "bad.tar.gz", per_batch=PER_BATCH,
                            meta=pickle.dumps({"label_names": list(reversed(CLASSES))}))
    result = _run(str(archive), "--out", str(tmp_path / "cifar10"), "--batch-images", str(PER_BATCH))
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "cifar10").exists()
