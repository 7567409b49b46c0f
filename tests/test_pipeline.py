"""End to end: the real `dvc repro` on a tiny synthetic archive at the smoke profile, and the DVC wiring.

The pipeline's tracked files are copied into a temporary git repo, so the test exercises exactly what a
user runs, without touching this checkout's outputs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from ruamel.yaml import YAML

from cifar10_study.core.fileio import read_json
from conftest import write_archive

ROOT = Path(__file__).resolve().parents[1]
COPIED = ["dvc.yaml", "params.yaml", "stages", "src", ".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore"]
N_TEST = 100


def _env(repo: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `python` in dvc.yaml = this venv's
    env["PYTHONPATH"] = str(repo / "src")  # the copied library, not the checkout's
    return env


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=_env(repo), capture_output=True,
                          text=True, timeout=900)


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
    write_archive(repo / "data" / "raw" / "cifar-10-python.tar.gz", per_batch=60, n_test=N_TEST)
    set_param(repo, "profile", "smoke")
    set_param(repo, "data.source", "data/raw/cifar-10-python.tar.gz")
    set_param(repo, "data.val_size", 50)
    return repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = copy_pipeline(tmp_path_factory.mktemp("pipeline"))
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return repo


def test_repro_produces_every_output(repo):
    base = read_json(repo / "metrics/stage1.json")
    assert 0.0 <= base["test_accuracy"] <= 1.0
    assert base["provenance"]["profile"] == "smoke" and base["provenance"]["data_official"] is False
    assert base["train_images"] == 250 and base["epochs"] == 1
    cm = read_json(repo / "plots/stage1/confusion_matrix.json")["matrix"]
    assert sum(map(sum, cm)) == N_TEST
    assert len(pd.read_csv(repo / "plots/stage1/predictions.csv")) == N_TEST
    table = pd.read_csv(repo / "plots/stage1/param_table.csv")
    assert table["params"].iloc[-1] == base["params"] == table["params"].iloc[:-1].sum()
    for png in ("plots/stage1/curves.png", "plots/stage1/confusion_matrix.png",
                "plots/stage1_experiments/bottleneck.png"):
        assert (repo / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    saved = torch.load(repo / "models/stage1.pt", weights_only=True)
    assert saved["config"]["model"]["name"] == "baseline_cnn"

    exp = read_json(repo / "metrics/stage1_experiments.json")
    assert exp["collapse"]["linear_avgpool"]["is_affine"] is True
    assert exp["collapse"]["linear_maxpool"]["is_affine"] is False
    widths = YAML(typ="safe").load((repo / "params.yaml").read_text())["stage1_experiments"]["bottleneck_widths"]
    assert list(pd.read_csv(repo / "plots/stage1_experiments/bottleneck.csv")["width"]) == sorted(widths)
    assert len(list((repo / "plots/stage1_experiments/history").glob("*.csv"))) == len(widths) + 3

    variants = YAML(typ="safe").load((repo / "params.yaml").read_text())["stage2"]["variants"]
    diag = read_json(repo / "metrics/stage2_diagnostics.json")
    assert set(diag["variants"]) == set(variants)
    for name in variants:
        metrics = read_json(repo / f"metrics/stage2/{name}.json")
        assert diag["variants"][name]["test_accuracy"] == metrics["test_accuracy"]
        steps = pd.read_csv(repo / f"plots/stage2/{name}/steps.csv")
        assert len(steps) == metrics["epochs"] * (metrics["train_images"] // metrics["config"]["train"]["batch_size"])
    vanishing = read_json(repo / "metrics/stage2_vanishing.json")
    assert {r["depth"] for r in vanishing["runs"].values()} == {20, 30, 50}
    grads = pd.read_csv(repo / "plots/stage2_vanishing/grad_norms.csv")
    assert (grads[grads["step"] == 0].groupby("depth").size() == pd.Series({20: 21, 30: 31, 50: 51})).all()
    explosion = read_json(repo / "metrics/stage2_explosion.json")
    assert explosion["widths"]["x16"]["trained"] is False and explosion["widths"]["x16"]["reason"]
    for png in ("plots/stage2_diagnostics/overfitting.png", "plots/stage2_diagnostics/stability.png",
                "plots/stage2_vanishing/grad_norms.png", "plots/stage2_explosion/scaling.png"):
        assert (repo / png).read_bytes()[:4] == b"\x89PNG", png

    full = read_json(repo / "metrics/stage3.json")
    assert full["config"]["model"]["residual"] and full["config"]["train"]["label_smoothing"] > 0
    for name in ("residual", "batchnorm", "dropout", "label_smoothing", "weight_decay"):
        assert (repo / f"metrics/stage3_ablations/no_{name}.json").is_file(), name
    assert read_json(repo / "metrics/stage3_ablations/no_batchnorm.json")["config"]["model"]["batchnorm"] is False
    assert (repo / "reports/figures/convergence.png").read_bytes()[:4] == b"\x89PNG"

    seeds = YAML(typ="safe").load((repo / "params.yaml").read_text())["stage4"]["seeds"]["smoke"]
    for name in ("stage4", "stage5", "stage5_ablations/no_se", "stage5_ablations/no_mixup", "stage5_ablations/no_cutout"):
        summary = read_json(repo / f"metrics/{name}.json")
        assert summary["seeds"] == seeds and summary["test_accuracy"]["n"] == len(seeds), name
        for seed in seeds:
            run = read_json(repo / f"metrics/{name}/seed_{seed}.json")
            assert run["provenance"]["seed"] == seed and run["test_images"] == summary["test_images"]
            assert len(pd.read_csv(repo / f"plots/{name}/seed_{seed}/predictions.csv")) == run["test_images"]
            assert (repo / f"models/{name}/seed_{seed}.pt").is_file()
    assert read_json(repo / "metrics/stage4.json")["params"] == 11_173_962
    assert read_json(repo / "metrics/stage5_ablations/no_se.json")["params"] == 11_173_962
    assert read_json(repo / "metrics/stage5_ablations/no_mixup.json")["config"]["train"]["mixup_alpha"] == 0
    assert read_json(repo / "metrics/stage5_ablations/no_cutout.json")["config"]["train"]["augment"]["cutout"] == 0
    for table in ("summary.csv", "stage5.csv", "stage45_val_accuracy.csv"):
        assert len(pd.read_csv(repo / "reports/tables" / table)) > 0, table
    for png in ("study_val_accuracy.png", "stage4_curves.png", "stage5_ablations.png"):
        assert (repo / "reports/figures" / png).read_bytes()[:4] == b"\x89PNG", png

    report = (repo / "reports/report.md").read_text()
    summary_table = (repo / "reports/summary.md").read_text().strip()
    assert report.index("## Summary") < report.index("## Stage 1") and summary_table in report
    assert summary_table.count("\n| ") == 5  # one row per stage
    assert "## Stage 4: ResNet-18 reproduction" in report and "## Stage 5: SE-ResNet-18" in report
    assert "| stage5 vs stage4 " in report and "| stage5 vs no_cutout " in report
    assert any(f"Stage 5 against Stage 4: {sign}" in report for sign in "+-")
    assert "## Stage 2: width and depth scaling" in report and "### Vanishing gradients" in report
    assert "### Parameter explosion" in report
    assert "## Stage 3: residual CNN" in report and "### Ablations" in report
    assert "**Profile: `smoke`**" in report and "## Stage 1: baseline CNN" in report
    assert f"{100 * base['test_accuracy']:.2f}%" in report
    assert "Network (b) equals a single affine map" in report


def test_every_declared_plot_renders(repo):
    """`dvc plots show` loads every top-level plot: DVC reports a bad entry (a folder given as a data
    file, a missing file, a missing column) only as an error in its output, not as a failure."""
    result = dvc(repo, "plots", "show", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert "errors" not in shown, shown["errors"]
    declared = YAML(typ="safe").load((repo / "dvc.yaml").read_text())["plots"]
    assert len(shown["data"]) >= len(declared)


def test_status_is_clean_after_repro(repo):
    result = dvc(repo, "status", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {}


def _stale_stages(repo: Path) -> set[str]:
    from dvc.repo import Repo

    with Repo(str(repo)) as r:
        return {name.rsplit(":", 1)[-1] for name in r.status()}  # 'path/dvc.yaml:stage' -> 'stage'


# check_params reads the whole file, so it is stale after any edit; its marker does not change, so that
# alone reruns nothing downstream. Stages are listed when their own inputs changed (DVC's status).
VARIANTS = {"stage2@baseline", "stage2@width_x2", "stage2@depth_x2", "stage2@depth_x3"}
ABLATIONS = {f"stage3_ablations@no_{c}" for c in ("residual", "batchnorm", "dropout", "label_smoothing", "weight_decay")}
STAGE3 = {"stage3", *ABLATIONS}
STAGE5_ABLATIONS = {f"stage5_ablations@no_{c}" for c in ("se", "mixup", "cutout")}
STAGE5 = {"stage5", *STAGE5_ABLATIONS}
TRAINING = {"stage1", "stage1_experiments", *VARIANTS, "stage2_vanishing", "stage2_explosion", *STAGE3, "stage4",
            *STAGE5}


@pytest.mark.parametrize("key,value,expected", [
    ("data.val_size", 40, {"download"}),
    ("data.split_seed", 3, {"download"}),
    ("profile", "quick", TRAINING | {"stage2_diagnostics"}),
    ("stage1.train.optimizer.lr", 0.01, {"stage1", "stage1_experiments", *VARIANTS}),
    ("stage1.quick.epochs", 2, {"stage1", "stage1_experiments"}),
    ("stage1.model.hidden", 128, {"stage1", "stage1_experiments", *VARIANTS, "stage2_explosion"}),
    ("stage1_experiments.bottleneck_widths", [2, 8], {"stage1_experiments"}),
    ("stage2.variants.width_x2", {"width": 3, "convs_per_stage": 1}, {"stage2@width_x2", "stage2_diagnostics"}),
    ("stage2.smoke.epochs", 1, VARIANTS),
    ("stage2.loss_window", 5, {"stage2_diagnostics"}),
    ("stage2_vanishing.depths", [10, 20], {"stage2_vanishing"}),
    ("stage2_explosion.widths", [1, 2], {"stage2_explosion"}),
    # The documented ablation wiring: a switch reruns the full model and every ablation but its own.
    ("stage3.dropout", 0.2, STAGE3 - {"stage3_ablations@no_dropout"}),
    ("stage3.residual", False, STAGE3 - {"stage3_ablations@no_residual"}),
    ("stage3.batchnorm", False, STAGE3 - {"stage3_ablations@no_batchnorm"}),
    ("stage3.label_smoothing", 0.0, STAGE3 - {"stage3_ablations@no_label_smoothing"}),
    ("stage3.weight_decay", 0.0, STAGE3 - {"stage3_ablations@no_weight_decay"}),
    ("stage3.train.optimizer.lr", 0.05, STAGE3),
    # Stage 5's documented `dvc exp run -S stage5.cutout=false`: stage5 and the other two ablations (the
    # report follows, as it depends on their metrics); the same for each switch and each setting.
    ("stage5.cutout", False, {"stage5", "stage5_ablations@no_se", "stage5_ablations@no_mixup"}),
    ("stage5.mixup", False, {"stage5", "stage5_ablations@no_se", "stage5_ablations@no_cutout"}),
    ("stage5.se", False, {"stage5", "stage5_ablations@no_mixup", "stage5_ablations@no_cutout"}),
    ("stage5.cutout_size", 8, {"stage5", "stage5_ablations@no_se", "stage5_ablations@no_mixup"}),
    ("stage5.mixup_alpha", 0.4, {"stage5", "stage5_ablations@no_se", "stage5_ablations@no_cutout"}),
    ("stage5.se_reduction", 8, {"stage5", "stage5_ablations@no_mixup", "stage5_ablations@no_cutout"}),
    # Stage 5 trains with Stage 4's recipe and seeds, so both rerun together.
    ("stage4.train.optimizer.lr", 0.05, {"stage4", *STAGE5}),
    ("stage4.seeds.smoke", [0], {"stage4", *STAGE5}),
    # runtime: how to run, never what: no stage declares it, so changing it reruns nothing.
    ("runtime.compile", "off", set()),
    ("runtime.device", "cpu", set()),
    ("runtime.eval_batch_size", 500, set()),
    ("runtime.checkpoint_interval_seconds", 5.0, set()),
    ("runtime.check_syncs", True, set()),
])
def test_a_param_change_marks_exactly_the_stages_that_read_it(repo, key, value, expected):
    original = (repo / "params.yaml").read_text()
    try:
        set_param(repo, key, value)
        assert _stale_stages(repo) == expected | {"check_params"}
    finally:
        (repo / "params.yaml").write_text(original)
    assert _stale_stages(repo) == set()


@pytest.mark.parametrize("path,expected", [
    ("src/cifar10_study/collapse.py", {"stage1", "stage1_experiments"}),
    ("src/cifar10_study/config.py", TRAINING | {"check_params", "download", "stage2_diagnostics"}),
    ("src/cifar10_study/engine.py", TRAINING | {"stage2_diagnostics"}),
    ("src/cifar10_study/models/residual.py", TRAINING | {"check_params", "download", "stage2_diagnostics"}),
    ("src/cifar10_study/stress.py", {"stage2_vanishing", "stage2_explosion"}),
    ("src/cifar10_study/report.py", {"report"}),
    ("src/cifar10_study/plots.py", (TRAINING - STAGE3 - {"stage4", *STAGE5}) | {"stage2_diagnostics", "report"}),
    ("src/cifar10_study/stage2.py", {*VARIANTS, "stage2_diagnostics"}),
    ("src/cifar10_study/stage5.py", STAGE5),
    ("src/cifar10_study/stage4.py", {"stage4", *STAGE5}),  # Stage 5 reads Stage 4's recipe through it
    ("src/cifar10_study/augment.py", TRAINING | {"stage2_diagnostics"}),
    ("src/cifar10_study/summary.py", {"report"}),
    ("src/cifar10_study/stats.py", TRAINING | {"stage2_diagnostics", "report"}),
])
def test_a_code_change_marks_exactly_the_stages_that_run_it(repo, path, expected):
    file = repo / path
    original = file.read_text()
    try:
        file.write_text(original + "\n# touched\n")
        assert _stale_stages(repo) == expected
    finally:
        file.write_text(original)


def test_the_report_depends_on_every_stage4_and_stage5_output():
    """So a rerun Stage 4/5 run or ablation reruns the report (DVC reruns a stage whose deps changed)."""
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    deps = set(stages["report"]["deps"])
    for name in ("stage4", "stage5"):
        assert {f"metrics/{name}", f"metrics/{name}.json", f"plots/{name}"} <= deps, name
    assert {"metrics/stage5_ablations", "plots/stage5_ablations"} <= deps


def test_bad_params_stop_dvc_repro_before_any_output_is_touched(repo):
    outputs = ["metrics/stage1.json", "metrics/stage1_experiments.json", "plots/stage1/history.csv",
               "reports/report.md", "models/stage1.pt"]
    before = {name: (repo / name).read_bytes() for name in outputs}
    original = (repo / "params.yaml").read_text()
    try:
        set_param(repo, "stage1.train.optimizer.lr", -1)
        result = dvc(repo, "repro")
        assert result.returncode != 0
        assert ("error: params.yaml: stage1.train.optimizer.lr: Input should be greater than 0 (got -1)"
                in result.stdout + result.stderr)
        assert {name: (repo / name).read_bytes() for name in outputs} == before
    finally:
        (repo / "params.yaml").write_text(original)


def _declared_src_deps(stage: dict) -> set[str]:
    return {d for d in stage["deps"] if d.startswith("src/")}


PROBE = """
import importlib.util, json, pathlib, sys
spec = importlib.util.spec_from_file_location("stage_under_test", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
src = pathlib.Path("src").resolve()
print(json.dumps(sorted(
    str(pathlib.Path(m.__file__).resolve().relative_to(src.parent)) for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and pathlib.Path(m.__file__).resolve().is_relative_to(src))))
"""


def test_every_stage_declares_exactly_the_src_modules_it_imports():
    """A module a stage runs but does not declare would let DVC reuse stale results after an edit."""
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for name, stage in stages.items():
        stage = stage.get("do", stage)  # a foreach stage's template
        script = stage["cmd"].split()[1]
        assert script in stage["deps"], name
        probe = subprocess.run([sys.executable, "-c", PROBE, script], cwd=ROOT, env=env, capture_output=True,
                               text=True, check=True)
        assert set(json.loads(probe.stdout)) == _declared_src_deps(stage), name
