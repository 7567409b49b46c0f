"""The download stage's reading, validation and splitting, on tiny archives made by the tests."""
import io
import pickle
import tarfile

import numpy as np
import pytest

from cifar10_study.core.errors import DataError
from cifar10_study.data import cifar10 as data_mod
from cifar10_study.data.cifar10 import BATCH_DIR, load_splits, prepare, read_cifar10
from helpers import batch_dict, write_archive


def test_prepare_writes_stratified_split_and_loads_back(tiny_archive, tmp_path):
    out = tmp_path / "prepared"
    meta = prepare(str(tiny_archive), out, val_size=50, split_seed=0, batch_images=60)
    assert meta["counts"] == {"train": 250, "val": 50, "test": 60}
    assert meta["official"] is False
    splits = load_splits(out)
    assert splits.train.images.shape == (250, 3, 32, 32) and str(splits.train.images.dtype) == "torch.uint8"
    assert np.bincount(splits.val.labels.numpy(), minlength=10).tolist() == [5] * 10  # stratified
    # Train and val partition the 300 training images: no image in both.
    train_rows = {bytes(x) for x in splits.train.images.numpy().reshape(250, -1)}
    assert not any(bytes(x) in train_rows for x in splits.val.images.numpy().reshape(50, -1))
    # Same seed -> same split; another seed -> another split.
    again = load_splits(prepare(str(tiny_archive), tmp_path / "p2", 50, 0, batch_images=60) and tmp_path / "p2")
    assert np.array_equal(again.val.images.numpy(), splits.val.images.numpy())
    other = load_splits(prepare(str(tiny_archive), tmp_path / "p3", 50, 1, batch_images=60) and tmp_path / "p3")
    assert not np.array_equal(other.val.images.numpy(), splits.val.images.numpy())


def test_pixels_keep_the_official_chw_row_order(tmp_path):
    batch = batch_dict(60, seed=0)
    archive = write_archive(tmp_path / "a.tar.gz", overrides={"data_batch_1": batch})
    (x, y), _ = read_cifar10(archive, batch_images=60)
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, each row-major 32x32.
    assert np.array_equal(x[0, 1, 2, 3], batch["data"][0, 1024 + 2 * 32 + 3])


def test_extracted_folder_is_a_valid_source(tiny_archive, tmp_path):
    with tarfile.open(tiny_archive) as tar:
        tar.extractall(tmp_path / "extracted", filter="data")
    (x, _), (xt, _) = read_cifar10(tmp_path / "extracted", batch_images=60)
    assert x.shape == (300, 3, 32, 32) and xt.shape == (60, 3, 32, 32)
    (x2, _), _ = read_cifar10(tmp_path / "extracted" / BATCH_DIR, batch_images=60)
    assert np.array_equal(x, x2)


def _balanced(n: int, seed: int = 9) -> dict:
    return batch_dict(n, seed)


def _member(name: str, payload: bytes, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{BATCH_DIR}/{name}")
    info.size, info.type = len(payload), kind
    return info


@pytest.mark.parametrize("mutation,message", [
    ({"skip": ("data_batch_3",)}, "missing file(s) data_batch_3"),
    ({"skip": ("batches.meta",)}, "missing file(s) batches.meta"),
    ({"overrides": {"test_batch": {"data": np.zeros((10, 3072), np.float32), "labels": [0] * 10}}},
     "test_batch: 'data' must be a uint8 array, got float32"),
    ({"overrides": {"data_batch_2": {"data": np.zeros((10, 1024), np.uint8), "labels": [0] * 10}}},
     "data_batch_2: 'data' must have shape [N, 3072]"),
    ({"overrides": {"data_batch_1": {"data": np.zeros((10, 3072), np.uint8), "labels": [0] * 9}}},
     "data_batch_1: 'labels' must be 10 integers"),
    ({"overrides": {"data_batch_4": {"data": np.zeros((3, 3072), np.uint8), "labels": [0, 10, 2]}}},
     "data_batch_4: labels must lie in 0..9, found 0..10"),
    ({"overrides": {"data_batch_5": {"images": []}}}, "data_batch_5: expected a dict with 'data' and 'labels'"),
    ({"overrides": {"data_batch_5": b"not a pickle"}}, "data_batch_5: not a readable CIFAR-10 batch"),
    ({"extra_members": {"../../evil.txt": b"x"}}, "points outside the archive folder"),
    ({"extra_members": {"/etc/evil": b"x"}}, "points outside the archive folder"),
    # The format's invariants (issue: a wrong data set must not pass with exit 0)
    ({"extra_members": {f"{BATCH_DIR}/data_batch_1": pickle.dumps(_balanced(60), protocol=2)}},
     "data_batch_1 appears twice; an archive holds each batch once"),
    ({"extra_members": {f"{BATCH_DIR}/data_batch_6": pickle.dumps(_balanced(60), protocol=2)}},
     "unexpected batch file cifar-10-batches-py/data_batch_6"),
    ({"overrides": {"data_batch_2": _balanced(59)}}, "data_batch_2: 59 images; every CIFAR-10 batch has 60"),
    ({"overrides": {"test_batch": {"data": np.zeros((60, 3072), np.uint8), "labels": [i % 9 for i in range(60)]}}},
     "the test set is not balanced (airplane 7, automobile 7"),
    ({"meta": {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship"]}},
     "batches.meta: label_names are ['airplane'"),
    ({"meta": {"label_names": ["automobile", "airplane", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                               "truck"]}},
     "expected the ten CIFAR-10 classes in order"),
    ({"meta": b"\x80not a pickle"}, "batches.meta: not a readable CIFAR-10 class list"),
])
def test_bad_archives_fail_with_one_clear_line(tmp_path, mutation, message):
    archive = write_archive(tmp_path / "bad.tar.gz", **mutation)
    with pytest.raises(DataError) as err:
        read_cifar10(archive, batch_images=60)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_member_declaring_more_bytes_than_a_batch_needs_is_refused_before_reading(tmp_path):
    """The size comes from the tar header: a huge member is refused without reading (or allocating) it."""
    archive = tmp_path / "big.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        payload = bytes(3 * 2**20)  # 3 MiB of zeros: far more than 10 images of 3,072 bytes need
        tar.addfile(_member("data_batch_1", payload), io.BytesIO(payload))
    with pytest.raises(DataError, match=r"data_batch_1 declares 3,145,728 bytes, more than the 1,125,376 a batch of "
                                        r"10 images needs"):
        read_cifar10(archive, batch_images=10)


def test_a_batch_that_is_not_a_regular_file_is_refused(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = _member("data_batch_1", b"", tarfile.SYMTYPE)
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(DataError, match="data_batch_1 is not a regular file"):
        read_cifar10(archive, batch_images=60)


def test_an_empty_or_non_gzip_file_is_one_line(tmp_path):
    for name, content in (("empty.tar.gz", b""), ("plain.tar", b"x" * 100)):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError) as err:
            read_cifar10(tmp_path / name, batch_images=60)
        assert "not a gzip-compressed tar archive" in str(err.value) and "\n" not in str(err.value)


def test_the_official_counts_are_the_default(tmp_path):
    """Read at CIFAR-10's 10,000 images per batch, a 60-image archive is refused."""
    with pytest.raises(DataError, match="data_batch_1: 60 images; every CIFAR-10 batch has 10,000"):
        read_cifar10(write_archive(tmp_path / "small.tar.gz"))


def test_an_extracted_folder_with_an_extra_batch_is_refused(tiny_archive, tmp_path):
    with tarfile.open(tiny_archive) as tar:
        tar.extractall(tmp_path / "extracted", filter="data")
    (tmp_path / "extracted" / BATCH_DIR / "data_batch_6").write_bytes(b"x")
    with pytest.raises(DataError, match="unexpected batch file.s. data_batch_6"):
        read_cifar10(tmp_path / "extracted", batch_images=60)


def test_pickled_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    archive = write_archive(tmp_path / "bad.tar.gz", overrides={"data_batch_1": pickle.dumps(Exploit(), protocol=2)})
    with pytest.raises(DataError, match=r"refusing to load (__builtin__|builtins)\.print"):
        read_cifar10(archive, batch_images=60)


def test_truncated_archive(tiny_archive, tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(tiny_archive.read_bytes()[:5000])
    with pytest.raises(DataError, match="truncated or corrupt archive"):
        read_cifar10(truncated, batch_images=60)
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"this is not an archive " * 50)
    with pytest.raises(DataError, match="not a gzip-compressed tar archive"):
        read_cifar10(garbage, batch_images=60)


def test_missing_source_and_bad_val_size(tiny_archive, tmp_path):
    with pytest.raises(DataError, match="does not exist; point it at cifar-10-python.tar.gz"):
        prepare(str(tmp_path / "nope.tar.gz"), tmp_path / "out", 50, 0)
    with pytest.raises(DataError, match="data.val_size must be between 1 and 299"):
        prepare(str(tiny_archive), tmp_path / "out", 300, 0, batch_images=60)
    assert not (tmp_path / "out").exists()


def test_failed_prepare_keeps_the_previous_output(tiny_archive, tmp_path):
    out = tmp_path / "prepared"
    prepare(str(tiny_archive), out, 50, 0, batch_images=60)
    before = (out / "val_images.npy").read_bytes()
    bad = write_archive(tmp_path / "bad.tar.gz", skip=("test_batch",))
    with pytest.raises(DataError):
        prepare(str(bad), out, 50, 0, batch_images=60)
    assert (out / "val_images.npy").read_bytes() == before


def test_download_verifies_md5_and_reuses_the_cache(tiny_archive, tmp_path):
    url = tiny_archive.as_uri()  # urllib serves file:// like http://, offline
    good = data_mod.md5sum(tiny_archive)
    path = data_mod.fetch_official(tmp_path / "cache", url=url, md5=good)
    assert path.read_bytes() == tiny_archive.read_bytes()
    assert data_mod.fetch_official(tmp_path / "cache", url="file:///nonexistent", md5=good) == path  # cached
    with pytest.raises(DataError, match="has md5 .* expected 0{32}: the download is corrupt"):
        data_mod.fetch_official(tmp_path / "cache2", url=url, md5="0" * 32)
    assert not any((tmp_path / "cache2").iterdir())  # no partial file left behind


def test_no_network_says_how_to_use_data_source(tmp_path, monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data_mod.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as err:
        prepare(None, tmp_path / "out", 50, 0, cache_dir=tmp_path / "cache")
    assert "cannot download https://www.cs.toronto.edu" in str(err.value)
    assert "set data.source in params.yaml" in str(err.value)


def test_load_splits_without_prepared_data(tiny_archive, tmp_path):
    with pytest.raises(DataError, match="run `dvc repro download` first"):
        load_splits(tmp_path)
    prepare(str(tiny_archive), tmp_path / "prepared", 50, 0, batch_images=60)
    (tmp_path / "prepared" / "test_labels.npy").unlink()
    with pytest.raises(DataError,
                       match=r"incomplete prepared data \(missing test_labels.npy\); run `dvc repro -f download`"):
        load_splits(tmp_path / "prepared")


def test_prepare_inside_a_stage_transaction_writes_the_folder_when_the_stage_succeeds(tiny_archive, tmp_path):
    """As stages/download.py runs it (inside core.cli's all_or_nothing): the prepared folder appears
    whole at the commit, with no staging folder left behind."""
    from cifar10_study.core.fileio import all_or_nothing

    out = tmp_path / "prepared"
    with all_or_nothing():
        meta = prepare(str(tiny_archive), out, val_size=50, split_seed=0, batch_images=60)
        assert not out.exists()
    assert len(load_splits(out).train) == meta["counts"]["train"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
