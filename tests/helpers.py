"""What several test modules share: the repository root, tiny CIFAR-10 archives in the official layout made
on the fly (no real data), small models and in-memory splits that learn in a few steps, and a copy of the
pipeline in a fresh git repository to run the real DVC on. Fixtures live in conftest.py."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch
from ruamel.yaml import YAML

from cifar10_study.data.augment import (
    MixUp,
    TrainAugment,
    crop_at,
    crop_offsets,
    cutout_at,
    cutout_centres,
    flip_draws,
    flip_where,
)
from cifar10_study.data.cifar10 import BATCH_DIR, CLASSES, Split, Splits
from cifar10_study.training.distributed import SINGLE, World
from cifar10_study.training.engine import EpochStats, StepFunctions, start_state, steps_per_epoch, train_one_epoch
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.runtime import RuntimeConfig

ROOT = Path(__file__).resolve().parents[1]
# What copy_pipeline copies: the pipeline's tracked files (no outputs, no caches).
COPIED = ["dvc.yaml", "params.yaml", "stages", "src", "scaleout", ".dvc/config", ".dvc/.gitignore", ".dvcignore",
          ".gitignore", "run.sh", "pyproject.toml", "tools/gpu_study.sh", "benchmarks/airbench_calibration.py",
          "tools/airbench_data.py"]
N_TEST = 100  # images per batch file of copy_pipeline's archive (so 500 training images, 100 test images)
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]

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
    # gzip's header time fixed: the same arguments give the same bytes, whichever test or worker writes them
    with gzip.GzipFile(path, "wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as tar:
        def add(name: str, payload: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

        meta_obj = {"label_names": list(CLASSES)} if meta is None else meta
        if "batches.meta" not in skip:
            add(f"{BATCH_DIR}/batches.meta",
                meta_obj if isinstance(meta_obj, bytes) else pickle.dumps(meta_obj, protocol=2))
        for i, name in enumerate(BATCHES):
            if name in skip:
                continue
            obj = overrides.get(name, batch_dict(per_batch, seed=i))
            add(f"{BATCH_DIR}/{name}", obj if isinstance(obj, bytes) else pickle.dumps(obj, protocol=2))
        for name, payload in (extra_members or {}).items():
            add(name, payload)
    return path


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


# --- the pipeline in a scratch repository ---------------------------------------------------------------

def pipeline_env(repo: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `python` in dvc.yaml = this venv's
    env["PYTHONPATH"] = str(repo / "src")  # the copied library, not the checkout's
    return env


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=pipeline_env(repo), capture_output=True,
                          text=True, timeout=900)


def run_sh(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`./run.sh ARGS` in the copied pipeline, as the README gives it, with this interpreter's environment as
    its .venv (already set up: run.sh finds the stamp of this pyproject.toml and installs nothing)."""
    venv = repo / ".venv"
    if not venv.exists():  # this environment's folders, linked (python finds its packages through pyvenv.cfg)
        venv.mkdir()
        for entry in Path(sys.prefix).iterdir():
            if not entry.name.startswith(".installed-"):
                (venv / entry.name).symlink_to(entry)
        digest = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()[:16]
        (venv / f".installed-{digest}").touch()
    return subprocess.run(["bash", "run.sh", *args], cwd=repo, env=pipeline_env(repo) | (env or {}),
                          capture_output=True, text=True, timeout=900)


def set_param(repo: Path, dotted: str, value) -> None:
    yaml = YAML()  # round-trip: keeps the comments and layout, as `dvc exp run -S` does
    path = repo / "params.yaml"
    doc = yaml.load(path)
    *parents, last = dotted.split(".")
    node = doc
    for key in parents:
        node = node[key]
    node[last] = value
    yaml.dump(doc, path)


def copy_pipeline(repo: Path) -> Path:
    """The pipeline's tracked files in a fresh git repo at `repo`, with a synthetic archive as
    data.source and the smoke profile."""
    for name in COPIED:
        src, dst = ROOT / name, repo / name
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "data" / "raw").mkdir(parents=True)
    write_archive(repo / "data" / "raw" / "cifar-10-python.tar.gz", per_batch=N_TEST)  # 500 training images
    set_param(repo, "profile", "smoke")
    set_param(repo, "data.source", "data/raw/cifar-10-python.tar.gz")
    set_param(repo, "data.val_size", 50)
    set_param(repo, "data.batch_images", N_TEST)
    return repo


def commit_everything(repo: Path) -> None:
    """Commit the working tree (what `dvc exp run` and a `git clone` start from)."""
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", "base"],
                   cwd=repo, check=True, capture_output=True)


# --- one-batch forms of the engine's epoch-at-once pieces, to test them batch by batch -------------------

def batch_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop of each image's original size from a copy zero-padded by `padding` px on every side."""
    if padding == 0:
        return images
    return crop_at(images, padding, *crop_offsets(len(images), padding, generator))


def batch_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image left-right with probability 1/2."""
    return flip_where(images, flip_draws(len(images), generator))


def batch_cutout(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one size x size square per image, centred at a uniformly random pixel, clipped at the border."""
    return cutout_at(images, size, *cutout_centres(len(images), images.shape[-2:], generator))


def augment_batch(augment: TrainAugment, images: torch.Tensor) -> torch.Tensor:
    """One batch through the training augmentation: its draws, then their application."""
    return augment.apply(images, augment.draw(len(images)))


def mix_batch(mixup: MixUp, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch through MixUp: its lambda and pairing, then the mix."""
    return mixup.apply(images, labels, mixup.draw(len(images)))


def shard(order: torch.Tensor, step: int, batch_size: int, world: World) -> torch.Tensor:
    """This process's indices for global step `step`: its contiguous share of the step's global batch."""
    local = batch_size // world.size
    start = step * batch_size + world.rank * local
    return order[start:start + local]


class FixedTargets:
    """A batch transform with no randomness, for tests: `targets(images, labels)` -> (images, targets).
    train() takes its only transform (MixUp) from the recipe; train_epoch_with gives the engine this one."""

    def __init__(self, targets):
        self.targets = targets

    def draw(self, batch: int) -> None:
        return None

    def apply(self, images: torch.Tensor, labels: torch.Tensor, draws: None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.targets(images, labels)


def train_epoch_with(model: torch.nn.Module, split: Split, cfg: TrainConfig, targets=None) -> EpochStats:
    """One epoch of the engine's training steps on CPU, as train() runs them, with the batch transform
    FixedTargets(targets) (None: the labels): its EpochStats. `model` is trained in place."""
    cpu = torch.device("cpu")
    state = start_state(model, cfg, cpu, SINGLE, RuntimeConfig(), (), steps_per_epoch(split, cfg.batch_size))
    transform = FixedTargets(targets) if targets is not None else None
    steps = StepFunctions(state.model, TrainAugment(cfg.augment, state.generator), transform)
    return train_one_epoch(state, split, cfg, steps, cpu)
