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


# --- all-or-nothing stage outputs, params pinned for the whole stage ------------------------------------

def test_a_stage_that_fails_midway_leaves_every_previous_output(tmp_path):
    from cifar10_study.core.fileio import all_or_nothing, save_torch, write_text

    first, second = tmp_path / "runs" / "history.csv", tmp_path / "metrics.json"
    write_text(first, "old history\n")
    write_json(second, {"acc": 0.5})
    blocker = tmp_path / "plots"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OSError):
        with all_or_nothing():
            write_text(first, "new history\n")  # written (to a temporary name) ...
            write_json(second, {"acc": 0.9})
            write_json(blocker / "table.json", {})  # ... then a write fails
    assert first.read_text() == "old history\n" and read_json(second) == {"acc": 0.5}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["history.csv", "metrics.json", "plots", "runs"]
    with all_or_nothing():
        write_text(first, "new history\n")
        save_torch({"w": 1}, tmp_path / "ckpt.pt", immediate=True)  # a checkpoint exists at once ...
        assert (tmp_path / "ckpt.pt").is_file() and first.read_text() == "old history\n"  # ... outputs only at the end
    assert first.read_text() == "new history\n"


def test_params_changed_during_a_stage_stop_it_with_nothing_written(tmp_path, monkeypatch, capsys):
    from cifar10_study.core.cli import stage_entry

    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("stage1:\n  train:\n    epochs: 20\nruntime:\n  compile: default\n")
    target = tmp_path / "runs" / "results.json"
    write_json(target, {"epochs": 20})

    @stage_entry
    def main():
        write_json(target, {"epochs": 20, "new": True})
        params.write_text(edit)  # someone edits params.yaml while the stage trains

    edit = "stage1:\n  train:\n    epochs: 21\nruntime:\n  compile: default\n"
    monkeypatch.setattr("sys.argv", ["stages/stage1.py"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == ("error: params.yaml changed while stage1.py ran "
                                               "(stage1.train.epochs: 20 -> 21); nothing was written: rerun")
    assert read_json(target) == {"epochs": 20}
    params.write_text("stage1:\n  train:\n    epochs: 20\nruntime:\n  compile: default\n")
    edit = "stage1:\n  train:\n    epochs: 20\nruntime:\n  compile: off\n"  # runtime never changes a result
    main()
    assert read_json(target) == {"epochs": 20, "new": True}


def test_a_folder_output_waits_for_the_stage_and_replaces_the_old_folder_whole(tmp_path):
    from cifar10_study.core.fileio import all_or_nothing, replace_dir

    target = tmp_path / "prepared"
    target.mkdir()
    (target / "old.npy").write_text("old")

    def staged(name: str):
        folder = tmp_path / f".{name}.tmp"
        folder.mkdir()
        (folder / "meta.json").write_text(name)
        return folder

    with pytest.raises(RuntimeError):
        with all_or_nothing():
            replace_dir(staged("failed"), target)
            raise RuntimeError("the stage fails after its folder was staged")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["old.npy", "prepared"]  # old folder, no leftovers
    with all_or_nothing():
        replace_dir(staged("new"), target)
        assert (target / "old.npy").is_file()  # nothing moves before the stage succeeds
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["meta.json", "prepared"]
    assert (target / "meta.json").read_text() == "new"
