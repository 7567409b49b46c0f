"""The layout's rules, checked on the source and dvc.yaml (no pipeline run): training code never imports
analysis or reporting code, and training stages keep DVC's run cache on (every output cached)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from test_config import ROOT

PKG = ROOT / "src/cifar10_study"
# The packages a training stage runs; analysis/ and reporting/ sit above them and read the runs' files.
TRAINING_SIDE = ("core", "data", "models", "training", "experiments")


def _imported_packages(path: Path) -> set[str]:
    """The cifar10_study subpackages a module imports (relative or absolute), e.g. {'core', 'training'}."""
    package = path.relative_to(PKG).parent.parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                parts = list(package[:len(package) - node.level + 1]) + (node.module.split(".") if node.module else [])
                found |= {parts[0]} if parts else {alias.name for alias in node.names}
            elif node.module and node.module.startswith("cifar10_study."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("cifar10_study.")}
    return found


@pytest.mark.parametrize("package", TRAINING_SIDE)
def test_training_code_never_imports_analysis_or_reporting(package):
    for path in sorted((PKG / package).rglob("*.py")):
        assert not _imported_packages(path) & {"analysis", "reporting"}, path.relative_to(ROOT)


def test_the_import_probe_sees_a_violation(tmp_path):
    """The check above can fail: a planted import of reporting code from a training module is found."""
    planted = PKG / "training" / "_planted_for_test.py"
    planted.write_text("from ..reporting import plots\nfrom . import engine\n")
    try:
        assert _imported_packages(planted) == {"reporting", "training"}
    finally:
        planted.unlink()


def _stages() -> dict:
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def _training_stages() -> dict:
    """Stages whose outputs are runs (runs/...)."""
    def out_paths(stage):
        return [o if isinstance(o, str) else next(iter(o)) for o in stage.get("outs", [])]
    return {name: s for name, s in _stages().items() if any(p.startswith("runs") for p in out_paths(s))}


def test_every_training_stage_caches_all_its_outputs():
    """A `cache: false` output turns DVC's run cache off for the stage, and `dvc push --run-cache` never
    sends an uncached file, so no other machine could restore the run."""
    training = _training_stages()
    # stage1, stage1_experiments, stage2, vanishing, explosion, stage3, its ablations, stage4, stage5 and its three ablations
    assert len(training) == 12
    for name, stage in training.items():
        entries = stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", [])
        uncached = [e for e in entries if isinstance(e, dict) and any(v.get("cache") is False for v in e.values())]
        assert not uncached, (name, uncached)


def test_training_stages_declare_no_analysis_code_and_no_runtime_key():
    for name, stage in _training_stages().items():
        code = [d for d in stage["deps"] if d.startswith("src/")]
        assert not [d for d in code if "/analysis/" in d or "/reporting/" in d], name
        assert not [p for p in stage.get("params", []) if str(p).startswith("runtime")], name


def test_profile_blocks_are_declared_for_the_active_profile_only():
    """`stage1.${profile}`, never both `stage1.quick` and `stage1.smoke`: editing another profile's block
    must not rerun anything (checked through DVC in test_pipeline)."""
    for name, stage in _stages().items():
        params = [str(p) for p in stage.get("params", [])]
        assert not [p for p in params if p.endswith((".quick", ".smoke", ".full"))], (name, params)


def test_the_parameter_table_leaves_a_batchnorm_model_untouched():
    """Its forward pass (for the output shapes) runs in eval mode: no running statistic moves, and the
    model's mode is restored."""
    import torch

    from cifar10_study.models.residual import ResidualCNNConfig
    from cifar10_study.reporting.tables import parameter_table

    model = ResidualCNNConfig(name="residual_cnn", channels=[8, 16]).build().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = parameter_table(model)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert table["params"].iloc[-1] == sum(p.numel() for p in model.parameters())
    assert table.loc[table["layer"] == "stem.0.0", "output_shape"].item() == "8x32x32"


def test_a_stage_needing_an_argument_says_so_in_one_line():
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(ROOT / "stages/stage2.py")], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: usage: python ") and "stage2.py <variant" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
