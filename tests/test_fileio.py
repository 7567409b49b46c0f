"""Atomic writes: a failure mid-write leaves the previous file intact and no temporary file behind."""
import pytest

from cifar10_study.core.fileio import atomic_path, read_json, write_json


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"acc": 0.5})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"acc": 0.')  # half-written
            raise RuntimeError("crash mid-write")
    assert read_json(target) == {"acc": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_unwritable_folder_raises_and_writes_nothing(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(OSError):
        write_json(blocker / "metrics.json", {"acc": 1})
    assert blocker.read_text() == "x"


def test_disk_full_is_one_line_and_keeps_the_previous_output(tmp_path, monkeypatch, capsys):
    import errno
    import pathlib

    from cifar10_study.core.cli import stage_entry

    target = tmp_path / "metrics.json"
    write_json(target, {"acc": 0.5})

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(pathlib.Path, "write_text", full)

    @stage_entry
    def main():
        write_json(target, {"acc": 0.9})

    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("error: cannot access ") and "No space left on device" in err
    monkeypatch.undo()
    assert read_json(target) == {"acc": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
