"""Shared test helpers: tiny CIFAR-10 archives in the official layout, made on the fly (no real data)."""
from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cifar10_study.data.cifar10 import BATCH_DIR, CLASSES, Split, Splits

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]

# cuBLAS reads this once, at its first call: the CUDA resume test needs deterministic matrix products.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def batch_dict(n: int, seed: int) -> dict:
    """A CIFAR batch dict with random pixels and balanced labels, as the official pickles hold."""
    rng = np.random.default_rng(seed)
    return {"batch_label": f"fake {seed}", "labels": [i % len(CLASSES) for i in range(n)],
            "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)}


def write_archive(path: Path, per_batch: int = 60, overrides: dict | None = None,
                  extra_members: dict[str, bytes] | None = None, skip: tuple[str, ...] = (),
                  meta: dict | bytes | None = None) -> Path:
    """Write a cifar-10-python.tar.gz look-alike: six batches of `per_batch` images (balanced labels) and
    batches.meta. `overrides` maps batch name -> dict or raw bytes; `meta` replaces batches.meta."""
    overrides = overrides or {}
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, payload: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

        meta_obj = {"label_names": list(CLASSES)} if meta is None else meta
        if "batches.meta" not in skip:
            add(f"{BATCH_DIR}/batches.meta", meta_obj if isinstance(meta_obj, bytes) else pickle.dumps(meta_obj, protocol=2))
        for i, name in enumerate(BATCHES):
            if name in skip:
                continue
            obj = overrides.get(name, batch_dict(per_batch, seed=i))
            add(f"{BATCH_DIR}/{name}", obj if isinstance(obj, bytes) else pickle.dumps(obj, protocol=2))
        for name, payload in (extra_members or {}).items():
            add(name, payload)
    return path


@pytest.fixture(autouse=True, scope="session")
def deterministic_cpu():
    """As the stage entry points do on CPU (engine.init_device), so tests check the same code path."""
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture
def tiny_archive(tmp_path) -> Path:
    return write_archive(tmp_path / "cifar-10-python.tar.gz")


class PoisonAfter(torch.nn.Module):
    """Wraps a model; its output becomes NaN from the `after`-th training-mode forward pass on, i.e.
    from training step `after` (a forced divergence). Eval-mode passes (FLOP count, validation) don't count."""

    def __init__(self, inner: torch.nn.Module, after: int):
        super().__init__()
        self.inner, self.after, self.training_calls = inner, after, 0

    def forward(self, x):
        self.training_calls += self.training
        out = self.inner(x)
        return out * float("nan") if self.training_calls >= self.after else out


def flat_linear() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))


def learnable_splits(n_train: int = 256, n_val: int = 64, n_test: int = 64, seed: int = 0) -> Splits:
    """In-memory splits whose class is written into the image (bright band at a class-specific row),
    so a few steps of training can learn it."""
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> Split:
        labels = torch.randint(0, 10, (n,), generator=g)
        images = torch.randint(0, 60, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
        for i, y in enumerate(labels):
            images[i, :, 3 * y:3 * y + 3, :] = 250
        return Split(images, labels)

    return Splits(split(n_train), split(n_val), split(n_test), meta={"source": "synthetic", "official": False})
