"""dvc.lock matches the tree: every script, code folder and params value it records for a stage is what this
checkout holds, so the committed metrics, plots and report are those of the code at HEAD. Checked with DVC's
own `dvc status`, keeping only what a clean clone can compare: outputs (and the deps that are other stages'
outputs) are not in a clone, and `data.source` is the one param allowed to differ (the committed results
were trained from a local copy of the data, while params.yaml downloads the official archive by default).
When this fails, the code changed after the committed run: rerun `./run.sh` and commit what it writes."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from helpers import ROOT, dvc, set_param

SOURCE_LINE = re.compile(r"^  source: .*$", re.MULTILINE)  # data.source in params.yaml


def read_lock(root: Path) -> dict:
    return YAML(typ="safe").load((root / "dvc.lock").read_text())


def produced(path: str, outputs: set[str]) -> bool:
    """An output of a stage, a folder of outputs (runs/ holds one per run) or a file inside one: absent from a
    clean clone, so a dependency on it cannot compare there."""
    return any(path == out or out.startswith(path + "/") or path.startswith(out + "/") for out in outputs)


def produced_by_stages(lock: dict) -> set[str]:
    """Every output path dvc.lock records."""
    return {out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


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
    outputs = produced_by_stages(lock)
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
                elif not produced(path, outputs):
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


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """What a clean clone holds of the pipeline: its code, params, dvc.yaml and dvc.lock, and no outputs."""
    repo = tmp_path_factory.mktemp("clone")
    for name in ("dvc.yaml", "dvc.lock", "params.yaml", "stages", "src", ".dvc/config", ".dvcignore"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        copy(ROOT / name, repo / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if
                                         (ROOT / name).is_dir() else {}))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def test_the_lock_check_sees_a_code_change_and_a_params_change_but_not_data_source(checkout):
    assert stale_dependencies(checkout) == {}
    set_param(checkout, "data.source", "elsewhere/cifar-10-python.tar.gz")
    assert stale_dependencies(checkout) == {}  # where the data came from is the one allowed difference
    engine = checkout / "src/cifar10_study/training/engine.py"
    engine.write_text(engine.read_text() + "# an edit\n")
    assert "src/cifar10_study/training" in stale_dependencies(checkout)["stage1"]
    set_param(checkout, "stage1.train.seed", 7)
    assert stale_dependencies(checkout)["stage1"]["params.yaml"] == {"stage1.train": "modified"}
