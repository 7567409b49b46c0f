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

from ruamel.yaml import YAML

from helpers import ROOT, dvc

SOURCE_LINE = re.compile(r"^  source: .*$", re.MULTILINE)  # data.source in params.yaml


def read_lock() -> dict:
    return YAML(typ="safe").load((ROOT / "dvc.lock").read_text())


def produced_by_stages(lock: dict) -> set[str]:
    """Every output path dvc.lock records: in a clean clone they are absent, so deps on them cannot compare."""
    return {out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def params_file_as_locked(lock: dict) -> bool:
    """params.yaml, with data.source set to the value the lock recorded, hashes to what the lock recorded."""
    source = lock["stages"]["download"]["params"]["params.yaml"]["data.source"]
    text = SOURCE_LINE.sub(f"  source: {'null' if source is None else source}", (ROOT / "params.yaml").read_text())
    recorded = {dep["path"]: dep["md5"] for dep in lock["stages"]["check_params"]["deps"]}["params.yaml"]
    return hashlib.md5(text.encode()).hexdigest() == recorded


def stale_dependencies() -> dict[str, dict]:
    status = dvc(ROOT, "status", "--json")
    assert status.returncode == 0, status.stderr
    lock = read_lock()
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
                elif path == "params.yaml" and params_file_as_locked(lock):
                    continue
                elif path not in outputs:
                    stale.setdefault(stage, {})[path] = what
            for key in set(change) - {"changed deps", "changed outs"}:
                stale.setdefault(stage, {})[key] = change[key]
    return stale


def test_dvc_lock_records_the_code_and_params_of_this_tree():
    stale = stale_dependencies()
    assert not stale, f"dvc.lock does not match this tree (rerun ./run.sh and commit its results): {stale}"
