"""Fixtures every test shares (helpers.py holds the shared functions)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from helpers import write_archive

# cuBLAS reads this once, at its first call: the CUDA resume test needs deterministic matrix products.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@pytest.fixture(autouse=True, scope="session")
def deterministic_cpu():
    """As the stage entry points do on CPU (device.init_device), so tests check the same code path."""
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(autouse=True)
def process_precision():
    """A test that sets the process's precision (device.init_device / use_precision) leaves it as it found it."""
    from cifar10_study.training import device

    before = device._precision
    yield
    device.use_precision(before)


@pytest.fixture
def tiny_archive(tmp_path) -> Path:
    return write_archive(tmp_path / "cifar-10-python.tar.gz")
