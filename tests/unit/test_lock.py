"""dvc.lock matches the tree: every script, code folder and params value it records for a stage is what this
checkout holds, and every output git tracks (metrics/, plots/, reports/) hashes to what it records, so the
committed metrics, plots and report are those of the code at HEAD. Checked with DVC's own `dvc status`,
keeping only what a clean clone can compare: the DVC-cached outputs (runs/, data/; and the deps that are
among them) are not in a clone, and `data.source` is the one param allowed to differ (the committed results
were trained from a local copy of the data, while params.yaml downloads the official archive by default).
No output needs an exception: what an identical rerun changes (timings, memory, hardware, commit) is in
timing files that DVC ignores (.dvcignore).
When this fails, the code or an output changed after the committed run: rerun `./run.sh` and commit what it
writes."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from helpers import ROOT, dvc, set_param

SOURCE_LINE = re.compile(r"^  source: .*$", re.MULTILINE)  # data.source in params.yaml


def read_lock(root: Path) -> dict:
    return YAML(typ="safe").load((root / "dvc.lock").read_text())


def produced(path: str, outputs: set[str]) -> bool:
    """One of `outputs`, a folder of them (runs/ holds one per run) or a file inside one."""
    return any(path == out or out.startswith(path + "/") or path.startswith(out + "/") for out in outputs)


def cached_outputs(root: Path) -> set[str]:
    """The outputs DVC caches (runs/, data/): a clean clone has none of them (no remote), so neither they nor a
    dependency on them can compare there. Every other output (`cache: false`: metrics/, plots/, reports/) is
    in git, and compares."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {Path(out.fs_path).relative_to(Path(repo.root_dir)).as_posix()
                for stage in repo.index.stages for out in stage.outs if out.use_cache}


def params_file_as_locked(lock: dict, root: Path) -> bool:
    """params.yaml, with data.source set to the value the lock recorded, hashes to what the lock recorded."""
    source = lock["stages"]["download"]["params"]["params.yaml"]["data.source"]
    text = SOURCE_LINE.sub(f"  source: {'null' if source is None else source}", (root / "params.yaml").read_text())
    recorded = {dep["path"]: dep["md5"] for dep in lock["stages"]["check_params"]["deps"]}["params.yaml"]
    return hashlib.md5(text.encode()).hexdigest() == recorded


def stale_dependencies(root: Path = ROOT) -> dict[str, dict]:
    status = dvc(root, "status", "--json")
    assert status.returncode == 0, status.stderr
    lock = read_lock(root)
    absent = cached_outputs(root)
    stale = {}
    for stage, changes in json.loads(status.stdout or "{}").items():
        for change in changes:
            if not isinstance(change, dict):  # e.g. "changed command", "always changed"
                stale.setdefault(stage, {})[str(change)] = True
                continue
            for path, what in change.get("changed deps", {}).items():
                if path == "params.yaml" and isinstance(what, dict):
                    keys = {key: how for key, how in what.items() if key != "data.source"}
                    if keys:
                        stale.setdefault(stage, {})[path] = keys
                elif path == "params.yaml" and params_file_as_locked(lock, root):
                    continue
                elif not produced(path, absent):
                    stale.setdefault(stage, {})[path] = what
            for path, what in change.get("changed outs", {}).items():
                if not produced(path, absent):
                    stale.setdefault(stage, {})[path] = what
            for key in set(change) - {"changed deps", "changed outs"}:
                stale.setdefault(stage, {})[key] = change[key]
    return stale


def test_dvc_lock_records_the_code_and_params_of_this_tree():
    stale = stale_dependencies()
    assert not stale, f"dvc.lock does not match this tree (rerun ./run.sh and commit its results): {stale}"


def test_dvc_lock_records_only_stages_dvc_yaml_defines():
    """DVC keeps a removed stage's entry (a dropped `foreach` item, a renamed stage) in dvc.lock, where it
    would claim results no stage produces: the committed lock lists the defined stages only."""
    listed = dvc(ROOT, "stage", "list", "--all", "--name-only")
    assert listed.returncode == 0, listed.stderr
    defined = set(listed.stdout.split())
    assert set(read_lock(ROOT)["stages"]) <= defined, sorted(set(read_lock(ROOT)["stages"]) - defined)


# What a clean clone holds of the pipeline: its code, params, dvc.yaml, dvc.lock and the outputs git tracks.
CLONED = ("dvc.yaml", "dvc.lock", "params.yaml", "stages", "src", ".dvc/config", ".dvcignore", "metrics", "plots",
          "reports")


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A clean clone of the last commit that wrote dvc.lock (which commits the pipeline's results with it, so the
    two agree, whatever has been committed or edited since): the pipeline and the outputs git tracks, none of
    the DVC-cached ones."""
    repo = tmp_path / "clone"
    repo.mkdir()
    locked = subprocess.run(["git", "log", "-1", "--format=%H", "--", "dvc.lock"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", locked, *CLONED], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def test_the_lock_check_sees_a_code_change_and_a_params_change_but_not_data_source(checkout):
    assert stale_dependencies(checkout) == {}
    set_param(checkout, "data.source", "elsewhere/cifar-10-python.tar.gz")
    assert stale_dependencies(checkout) == {}  # where the data came from is the one allowed difference
    engine = checkout / "src/cifar10_study/training/engine.py"
    engine.write_text(engine.read_text() + "# an edit\n")
    assert "src/cifar10_study/training" in stale_dependencies(checkout)["stage1@seed_0"]
    set_param(checkout, "stage1.train.epochs", 7)
    assert stale_dependencies(checkout)["stage1@seed_0"]["params.yaml"] == {"stage1.train": "modified"}


def test_the_lock_check_sees_a_hand_edited_metrics_file_and_plots_table(checkout):
    assert stale_dependencies(checkout) == {}
    metrics = checkout / "metrics/stage1.json"
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "test_accuracy": 0.99}, indent=2) + "\n")
    history = checkout / "plots/stage1/history.csv"
    history.write_text(history.read_text().replace("\n1,", "\n1,0.5,", 1))
    stale = stale_dependencies(checkout)
    assert stale["stage1_analysis"] == {"metrics/stage1.json": "modified", "plots/stage1": "modified"}
    assert stale["headline"] == {"metrics/stage1.json": "modified"}  # the dependency on it compares too
