"""CIFAR-10: fetch or read the official archive, validate it, split it, and hold it as tensors.

`prepare()` (the `download` stage) turns the official python-layout archive into compact uint8 arrays
plus a fixed, seeded validation split carved from the 50k training images; the test set is kept apart
for final reporting only. `load_splits()` brings them back in well under a second, onto the training
device, where augmentation runs batched (see augment.py).
"""
from __future__ import annotations

import hashlib
import http.client
import io
import os
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from pydantic import Field
from sklearn.model_selection import train_test_split

from ..core.errors import DataError
from ..core.fileio import read_json, replace_dir, write_json
from ..core.schema import PositiveInt, Section, View
from . import CLASSES, IMAGE_SHAPE, PIXELS

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
MEMBERS = (*TRAIN_BATCHES, TEST_BATCH, META)
OFFICIAL_BATCH_IMAGES = 10_000  # images in each of the six batch files
# The usual CIFAR-10 channel statistics of the training set (pixels scaled to [0, 1]).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
SPLITS = ("train", "val", "test")
PREPARED = Path("data/prepared")  # the download stage's output


class DataConfig(Section):
    """params.yaml `data`: where the archive comes from and how the validation split is carved."""

    # None: download the official archive and verify its md5. Otherwise a local cifar-10-python.tar.gz
    # or its extracted folder, in the official layout (relative paths are relative to the repo root).
    source: str | None = None
    val_size: PositiveInt = 5000  # images held out of the 50k training set, stratified by class
    split_seed: int = Field(0, ge=0)
    # Images in each of the six batch files, checked when reading (10,000 in CIFAR-10; only the tests,
    # with their tiny archives, change it). A multiple of ten: the test batch holds each class equally.
    batch_images: PositiveInt = Field(10_000, multiple_of=10)


class DataParams(View):
    """What the download stage reads."""

    data: DataConfig


# --- reading the official layout ---------------------------------------------------------------------

class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batch dicts and nothing else: a pickle from an untrusted archive could
    otherwise run arbitrary code. Only numpy's array reconstruction is allowed."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle_batch(name: str, payload: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images uint8 [N, 3, 32, 32] and labels int64 [N], checked."""
    try:
        # latin1 reads the official (Python 2) pickles with str keys, and Python 3 ones unchanged.
        batch = _ArrayUnpickler(io.BytesIO(payload), encoding="latin1").load()
    except Exception as exc:
        raise DataError(f"{name}: not a readable CIFAR-10 batch ({exc})") from None
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise DataError(f"{name}: expected a dict with 'data' and 'labels' keys")
    data, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise DataError(f"{name}: 'data' must be a uint8 array, got {getattr(data, 'dtype', type(data).__name__)}")
    if data.ndim != 2 or data.shape[1] != PIXELS:
        raise DataError(f"{name}: 'data' must have shape [N, {PIXELS}] (32x32 RGB rows), got {list(data.shape)}")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise DataError(f"{name}: 'labels' must be {len(data)} integers, "
                        f"got shape {list(labels.shape)} of {labels.dtype}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise DataError(f"{name}: labels must lie in 0..9, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int64)


def _check_member_path(name: str) -> None:
    """Reject members that would escape the folder if extracted (absolute paths or '..')."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts:
        raise DataError(f"archive member {name!r} points outside the archive folder; refusing this archive")


def _size_cap(member: str, batch_images: int) -> int:
    """The most bytes a member may declare: a batch's images (3,072 bytes each) at up to 2.5 bytes per
    byte (a protocol-2 pickle written by Python 3 stores raw bytes as UTF-8 text, up to twice their size:
    the stand-in's batches are 44 MB, the official ones ~31 MB) plus 1 MiB for labels and names;
    batches.meta is tiny."""
    return 2**20 if member == META else int(2.5 * batch_images * PIXELS) + 2**20


def _read_archive(path: Path, batch_images: int) -> dict[str, bytes]:
    """The batch files' and batches.meta's bytes, read straight from the tar.gz (nothing is extracted to
    disk). Each expected member exactly once, a regular file within its size cap (checked from the tar
    header before reading); another file named like a batch is refused; other files (the official
    readme.html) are ignored."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                _check_member_path(member.name)
                folder, _, base = member.name.removeprefix("./").rpartition("/")
                if folder != BATCH_DIR:
                    continue
                if base not in MEMBERS:
                    if base.startswith(("data_batch", "test_batch")):
                        raise DataError(f"{path}: unexpected batch file {member.name} (CIFAR-10 has data_batch_1..5 "
                                        f"and test_batch); refusing this archive")
                    continue
                if base in found:
                    raise DataError(f"{path}: {member.name} appears twice; an archive holds each batch once")
                if not member.isfile():
                    raise DataError(f"{path}: {member.name} is not a regular file")
                cap = _size_cap(base, batch_images)
                if member.size > cap:
                    raise DataError(f"{path}: {member.name} declares {member.size:,} bytes, more than the "
                                    f"{cap:,} a batch of {batch_images:,} images needs")
                found[base] = tar.extractfile(member).read()
    except tarfile.ReadError as exc:
        raise DataError(f"{path}: not a gzip-compressed tar archive ({exc}); expected cifar-10-python.tar.gz") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt archive ({exc}); download it again") from None
    return found


def _read_folder(path: Path, batch_images: int) -> dict[str, bytes]:
    folder = path / BATCH_DIR if (path / BATCH_DIR).is_dir() else path
    extra = sorted(p.name for p in folder.glob("*_batch*") if p.name not in MEMBERS)
    if extra:
        raise DataError(f"{folder}: unexpected batch file(s) {', '.join(extra)} (CIFAR-10 has data_batch_1..5 and "
                        f"test_batch); refusing this folder")
    files = {}
    for name in MEMBERS:
        if (folder / name).is_file():
            size, cap = (folder / name).stat().st_size, _size_cap(name, batch_images)
            if size > cap:
                raise DataError(f"{folder / name}: {size:,} bytes, more than the {cap:,} a batch of "
                                f"{batch_images:,} images needs")
            files[name] = (folder / name).read_bytes()
    return files


def _check_classes(payload: bytes) -> None:
    """batches.meta names the ten classes, in the order the labels use."""
    try:
        names = _ArrayUnpickler(io.BytesIO(payload), encoding="latin1").load()["label_names"]
    except Exception as exc:
        raise DataError(f"{META}: not a readable CIFAR-10 class list ({type(exc).__name__}: {exc})") from None
    names = [n.decode() if isinstance(n, bytes) else n for n in names]
    if names != list(CLASSES):
        raise DataError(f"{META}: label_names are {names}; expected the ten CIFAR-10 classes in order "
                        f"({', '.join(CLASSES)})")


def _check_balanced(split: str, labels: np.ndarray) -> None:
    """Every class equally often (5,000 per class in the official training set, 1,000 in the test set)."""
    counts = np.bincount(labels, minlength=len(CLASSES))
    if counts.min() != counts.max():
        detail = ", ".join(f"{c} {n:,}" for c, n in zip(CLASSES, counts))
        raise DataError(f"the {split} set is not balanced ({detail}); CIFAR-10 has {len(labels) // len(CLASSES):,} "
                        f"images of each class; refusing this archive")


def read_cifar10(path: str | os.PathLike, batch_images: int = OFFICIAL_BATCH_IMAGES
                 ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Read an archive or extracted folder in the official layout -> (train, test) image/label arrays,
    checked against the format: the five training batches, the test batch and batches.meta; each batch
    `batch_images` images (10,000 in CIFAR-10) of 32x32 RGB uint8 with labels 0..9; the ten classes named
    in order; each split balanced over the classes. Any failure is one line naming the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data.source {str(path)!r} does not exist; "
                        "point it at cifar-10-python.tar.gz or its extracted folder")
    files = _read_folder(path, batch_images) if path.is_dir() else _read_archive(path, batch_images)
    missing = [n for n in MEMBERS if n not in files]
    if missing:
        raise DataError(f"{path}: missing file(s) {', '.join(missing)} (expected {BATCH_DIR}/data_batch_1..5, "
                        f"test_batch and batches.meta)")
    batches = {n: _unpickle_batch(n, files[n]) for n in (*TRAIN_BATCHES, TEST_BATCH)}
    for name, (images, _) in batches.items():
        if len(images) != batch_images:
            raise DataError(f"{name}: {len(images):,} images; every CIFAR-10 batch has {batch_images:,}")
    _check_classes(files[META])
    train = (np.concatenate([batches[n][0] for n in TRAIN_BATCHES]),
             np.concatenate([batches[n][1] for n in TRAIN_BATCHES]))
    test = batches[TEST_BATCH]
    _check_balanced("training", train[1])
    _check_balanced("test", test[1])
    return train, test


# --- fetching --------------------------------------------------------------------------------------------

def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_official(cache_dir: Path, url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5) -> Path:
    """Download the official archive into cache_dir (reused if already there and intact), md5-verified."""
    target = cache_dir / "cifar-10-python.tar.gz"
    if target.is_file() and md5sum(target) == md5:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"cannot download {url} ({reason}); on an offline machine set data.source in params.yaml "
            f"to a local cifar-10-python.tar.gz or its extracted folder"
        ) from None
    got = md5sum(partial)
    if got != md5:
        partial.unlink()
        raise DataError(f"downloaded archive has md5 {got}, expected {md5}: "
                        "the download is corrupt or the file changed; run again")
    os.replace(partial, target)
    return target


# --- the prepared arrays (the download stage's output) --------------------------------------------------

def prepare(source: str | None, out_dir: str | os.PathLike, val_size: int, split_seed: int,
            cache_dir: str | os.PathLike = ".cache/downloads", batch_images: int = OFFICIAL_BATCH_IMAGES) -> dict:
    """Fetch/read CIFAR-10, carve a stratified validation split, write uint8 .npy arrays + meta.json.

    The folder is written beside the target and renamed into place only when complete.
    """
    archive = Path(source) if source else fetch_official(Path(cache_dir))
    (x_train, y_train), (x_test, y_test) = read_cifar10(archive, batch_images)
    if not 0 < val_size < len(y_train):
        raise DataError(f"data.val_size must be between 1 and {len(y_train) - 1} (the training images), got {val_size}")
    try:
        train_idx, val_idx = train_test_split(
            np.arange(len(y_train)), test_size=val_size, random_state=split_seed, stratify=y_train)
    except ValueError as exc:
        raise DataError(f"data.val_size {val_size}: cannot carve a class-stratified split ({exc})") from None
    arrays = {
        "train": (x_train[train_idx], y_train[train_idx]),
        "val": (x_train[val_idx], y_train[val_idx]),
        "test": (x_test, y_test),
    }
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for split, (x, y) in arrays.items():
            np.save(tmp / f"{split}_images.npy", np.ascontiguousarray(x))
            np.save(tmp / f"{split}_labels.npy", y)
        source_md5 = md5sum(archive) if archive.is_file() else None
        meta = {
            "source": str(source) if source else OFFICIAL_URL,
            "source_md5": source_md5,
            "official": source_md5 == OFFICIAL_MD5,
            "classes": list(CLASSES),
            "split_seed": split_seed,
            "counts": {s: int(len(y)) for s, (_, y) in arrays.items()},
        }
        write_json(tmp / "meta.json", meta, immediate=True)  # the folder is what waits for the commit
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 [N, 3, 32, 32] on the training device
    labels: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> "Split":
        return Split(self.images.to(device), self.labels.to(device))

    def head(self, n: int | None) -> "Split":
        """The first n images (the prepared splits are already in seeded random order)."""
        return self if n is None or n >= len(self) else Split(self.images[:n], self.labels[:n])

    def __add__(self, other: "Split") -> "Split":
        """This split's images followed by `other`'s."""
        return Split(torch.cat([self.images, other.images]), torch.cat([self.labels, other.labels]))


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split
    meta: dict

    def to(self, device: torch.device | str) -> "Splits":
        return Splits(self.train.to(device), self.val.to(device), self.test.to(device), self.meta)


def load_splits(data_dir: str | os.PathLike, device: torch.device | str = "cpu") -> Splits:
    """Load the prepared arrays onto `device` (no DataLoader: the whole set fits in memory)."""
    data_dir = Path(data_dir)
    if not (data_dir / "meta.json").is_file():
        raise DataError(f"{data_dir}: no prepared data; run `dvc repro download` first")
    missing = [f"{s}_{kind}.npy" for s in SPLITS for kind in ("images", "labels")
               if not (data_dir / f"{s}_{kind}.npy").is_file()]
    if missing:
        raise DataError(f"{data_dir}: incomplete prepared data (missing {', '.join(missing)}); "
                        f"run `dvc repro -f download`")
    splits = {s: Split(torch.from_numpy(np.load(data_dir / f"{s}_images.npy")),
                       torch.from_numpy(np.load(data_dir / f"{s}_labels.npy"))).to(device) for s in SPLITS}
    return Splits(**splits, meta=read_json(data_dir / "meta.json"))
