"""tools/device_bundle.py: which distributions a GPU machine without network must be sent (offline: nothing is
fetched here), and that a wheel built here for it must be pure Python."""
from __future__ import annotations

import importlib.util
import subprocess

import pytest

from helpers import ROOT

spec = importlib.util.spec_from_file_location("device_bundle", ROOT / "tools/device_bundle.py")
bundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bundle)


def test_the_machines_own_torch_is_never_carried():
    names = {r.split(">")[0].split("=")[0] for r in bundle.project_requirements()}
    assert "dvc" in names and "pydantic" in names and not names & {"torch", "torchvision"}


def test_the_closure_follows_requirements_to_the_versions_installed_here():
    from importlib.metadata import version
    needed = bundle.closure(["dvc", "pydantic"])
    assert needed["dvc"] == version("dvc") and needed["pydantic-core"] == version("pydantic-core")
    assert "dvc-data" in needed and "torch" not in needed  # a requirement of a requirement; nothing unasked


def test_markers_are_those_of_the_machines_python():
    # evaluated for CPython 3.12, whatever Python runs the script
    assert bundle.closure(['pydantic; python_version < "3.0"']) == {}
    assert "pydantic" in bundle.closure(['pydantic; python_version >= "3.12"'])


def test_what_the_machine_has_is_left_out():
    present = bundle.device_packages()
    assert {"numpy", "pandas", "typing-extensions", "pyyaml"} <= present and "dvc" not in present
    missing = bundle.missing_on_device({"numpy": "2.0", "dvc": "3.67.1", "ruamel-yaml": "0.19"}, present)
    assert missing == {"dvc": "3.67.1", "ruamel-yaml": "0.19"}


def test_a_source_only_distribution_that_builds_to_a_platform_wheel_is_refused(tmp_path, monkeypatch):
    def fake_pip(*args):
        if args[0] == "wheel":  # what building a compiled package here would leave
            (tmp_path / "native-1.0-cp311-cp311-linux_x86_64.whl").touch()
        return subprocess.CompletedProcess(args, 1 if args[0] == "download" else 0, "", "")

    monkeypatch.setattr(bundle, "_pip", fake_pip)
    with pytest.raises(SystemExit, match="will not install on CPython 3.12"):
        bundle.fetch_wheel("native==1.0", tmp_path)
