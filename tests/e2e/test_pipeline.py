"""End to end: the real `dvc repro` on a tiny synthetic archive at the smoke profile, and the DVC wiring.

The pipeline's tracked files are copied into a temporary git repo, so the test exercises exactly what a
user runs, without touching this checkout's outputs.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from ruamel.yaml import YAML

from cifar10_study.analysis.headline import KEYS
from cifar10_study.analysis.measurements import MEASURED
from cifar10_study.components.stage3_components import STAGE3_COMPONENTS
from cifar10_study.components.stage5_components import STAGE5_COMPONENTS
from cifar10_study.core.fileio import read_json
from helpers import N_TEST, ROOT, commit_everything, copy_pipeline, dvc, pipeline_env, run_sh, set_param


@pytest.fixture(scope="module")
def repo(smoke_repo) -> Path:
    """The smoke pipeline reproduced once (tests/e2e/conftest.py), shared with tests/e2e/test_slurm.py."""
    return smoke_repo


def _params(repo: Path) -> dict:
    return YAML(typ="safe").load((repo / "params.yaml").read_text())


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _smoke_seeds(params: dict, section: str, key: str = "seeds") -> list[int]:
    return [int(s.removeprefix("seed_")) for s, profiles in params[section][key].items() if "smoke" in profiles]


def test_repro_produces_every_output(repo):
    params = _params(repo)
    # Stage 1: one run folder per seed (DVC-cached) and the analysis outputs over the seeds (git-tracked)
    base_seeds = _smoke_seeds(params, "stage1")
    assert len(base_seeds) >= 2  # the tests exercise the across-seed statistics
    results = {s: read_json(repo / f"runs/stage1/seed_{s}/results.json") for s in base_seeds}
    base, info = results[0], read_json(repo / "runs/stage1/seed_0/info.json")
    assert 0.0 <= base["test_accuracy"] <= 1.0 and base["train_images"] == 256 and base["epochs"] == 1
    assert info["provenance"]["profile"] == "smoke" and info["provenance"]["data_official"] is False
    assert info["provenance"]["seed"] == 0 and info["provenance"]["torch_threads"] >= 1
    assert read_json(repo / f"runs/stage1/seed_{base_seeds[1]}/info.json")["provenance"]["seed"] == base_seeds[1]
    untrained = [s for s in params["stage1"]["seeds"] if "smoke" not in params["stage1"]["seeds"][s]]
    assert all((repo / f"runs/stage1/{s}/skipped.json").is_file() for s in untrained) and untrained
    metrics = read_json(repo / "metrics/stage1.json")
    assert metrics["seeds"] == base_seeds and set(metrics["per_seed"]) == {f"seed_{s}" for s in base_seeds}
    for key in ("test_accuracy", "test_loss", "final_val_accuracy"):  # the mean over seeds
        assert metrics[key] == pytest.approx(sum(r[key] for r in results.values()) / len(results))
    assert metrics["parameters"] == base["parameters"]
    cm = read_json(repo / "plots/stage1/confusion_matrix.json")["matrix"]
    every_seed = len(base_seeds) * N_TEST  # every seed's test predictions
    assert sum(map(sum, cm)) == every_seed and len(pd.read_csv(repo / "plots/stage1/predictions.csv")) == every_seed
    table = pd.read_csv(repo / "reports/tables/stage1_param_table.csv")
    assert table["parameters"].iloc[-1] == base["parameters"] == table["parameters"].iloc[:-1].sum()
    saved = torch.load(repo / "runs/stage1/seed_0/weights.pt", weights_only=True)
    assert saved["config"]["model"]["name"] == "baseline_cnn"

    exp = read_json(repo / "metrics/stage1_experiments.json")
    assert exp["collapse"]["seed_0"]["linear_avgpool"]["is_affine"] is True
    assert exp["collapse"]["seed_0"]["linear_maxpool"]["is_affine"] is False
    against = exp["runs"]["linear_avgpool"]["against_baseline"]  # one run against the baseline's seeds
    assert set(against) == {"difference", "seed_noise_floor", "p_seed_noise", "beyond_seed_noise",
                            "p_mcnemar_test_images"}
    widths = params["stage1_experiments"]["bottleneck_widths"]
    assert list(pd.read_csv(repo / "plots/stage1_experiments/bottleneck.csv")["width"]) == sorted(widths)
    assert len(pd.read_csv(repo / "plots/stage1_experiments/val_accuracy.csv").columns) == 1 + len(widths) + 3

    variants = params["stage2"]["variants"]
    stage2 = read_json(repo / "metrics/stage2.json")
    assert list(stage2["variants"]) == ["baseline", *variants]  # the baseline is the Stage 1 runs, not retrained
    assert not (repo / "runs/stage2/baseline").exists()
    for name in stage2["variants"]:
        run = repo / ("runs/stage1/seed_0" if name == "baseline" else f"runs/stage2/{name}/seed_0")
        results, info = read_json(run / "results.json"), read_json(run / "info.json")
        assert stage2["variants"][name]["per_seed"]["seed_0"]["test_accuracy"] == results["test_accuracy"]
        assert ("against_baseline" in stage2["variants"][name]) is (name != "baseline")
        steps = pd.read_csv(run / "steps.csv")
        assert len(steps) == results["epochs"] * (results["train_images"] // info["config"]["train"]["batch_size"])
    vanishing = read_json(repo / "metrics/stage2_vanishing.json")
    assert set(vanishing["depths"]) == {"depth_4", "depth_10", "depth_20"}
    grads = pd.read_csv(repo / "plots/stage2_vanishing/grad_norms.csv")
    # every conv layer and the classifier, at initialisation
    assert (grads[grads["step"] == 0].groupby("depth").size() == pd.Series({4: 5, 10: 11, 20: 21})).all()
    explosion = pd.read_csv(repo / "plots/stage2_explosion/widths.csv").set_index("width")
    assert not explosion.loc[16, "trained"] and explosion.loc[16, "reason"]
    assert set(read_json(repo / "metrics/stage2_explosion.json")["widths"]) == {"x1", "x2", "x4", "x8", "x16"}

    stage3_metrics = read_json(repo / "metrics/stage3.json")
    stage3 = stage3_metrics["configurations"]
    assert set(stage3) == {"stage3", "no_residual", "no_batchnorm", "no_dropout", "no_label_smoothing",
                           "no_weight_decay"}
    assert stage3["stage3"]["seeds"] == _smoke_seeds(params, "stage3")
    assert stage3["no_dropout"]["seeds"] == _smoke_seeds(params, "stage3", "ablation_seeds")
    assert "against_full" in stage3["no_dropout"] and "against_full" not in stage3["stage3"]
    assert stage3_metrics["against_stage1_baseline"]["difference"] == pytest.approx(
        stage3["stage3"]["test_accuracy"] - metrics["test_accuracy"])
    full_info = read_json(repo / "runs/stage3/seed_0/info.json")
    assert full_info["config"]["model"]["residual"] and full_info["config"]["train"]["label_smoothing"] > 0
    no_batchnorm = read_json(repo / "runs/stage3_ablations/no_batchnorm/seed_0/info.json")
    assert no_batchnorm["config"]["model"]["batchnorm"] is False

    seeds = _smoke_seeds(params, "stage4")
    for name in ("stage4", "stage5", "stage5_ablations/no_se", "stage5_ablations/no_mixup",
                 "stage5_ablations/no_cutout"):
        for seed in seeds:
            run = repo / f"runs/{name}/seed_{seed}"
            assert read_json(run / "info.json")["provenance"]["seed"] == seed, name
            assert len(pd.read_csv(run / "predictions.csv")) == read_json(run / "results.json")["test_images"]
            assert (run / "weights.pt").is_file()
    stage4 = read_json(repo / "metrics/stage4.json")
    assert stage4["parameters"] == 11_173_962 and set(stage4["per_seed"]) == {str(s) for s in seeds}
    for seed in seeds:  # calibration of every run, from its predictions; NLL is its test loss
        record = stage4["per_seed"][str(seed)]
        assert 0 <= record["test_ece"] <= 1
        assert record["test_nll"] == read_json(repo / f"runs/stage4/seed_{seed}/results.json")["test_loss"]
    stage5 = read_json(repo / "metrics/stage5.json")
    assert stage5["configurations"]["no_se"]["parameters"] == 11_173_962
    assert set(stage5["comparisons"]) == {"stage5 vs stage4", "no_se vs stage4", "no_mixup vs stage4",
                                          "no_cutout vs stage4", "stage5 vs no_se", "stage5 vs no_mixup",
                                          "stage5 vs no_cutout"}
    assert stage5["primary"] == "stage5 vs stage4" and stage5["alpha"] == params["statistics"]["alpha"]
    assert stage5["comparisons"]["stage5 vs stage4"]["p_holm"] == stage5["comparisons"]["stage5 vs stage4"]["p"]
    assert set(stage5["calibration"]) == {"stage5 vs stage4", "no_se vs stage4", "no_mixup vs stage4",
                                          "no_cutout vs stage4"}
    assert read_json(repo / "runs/stage5_ablations/no_mixup/seed_0/info.json")["config"]["train"]["mixup_alpha"] == 0
    assert len(pd.read_csv(repo / "plots/stage4/predictions.csv")) == len(seeds) * stage4_test_images(repo)
    for table in ("plots/stage45/test_accuracy.csv", "plots/stage45/val_accuracy.csv", "plots/stage45/reliability.csv",
                  "reports/tables/summary.csv"):
        assert len(pd.read_csv(repo / table)) > 0, table
    for png in ("stage1_curves", "stage1_confusion_matrix", "stage1_bottleneck", "stage2_overfitting",
                "stage2_stability", "stage2_grad_norms", "stage2_scaling", "convergence", "study_val_accuracy",
                "stage4_curves", "stage5_ablations", "stage45_reliability"):
        assert _png(repo / f"reports/figures/{png}.png"), png

    report = (repo / "reports/report.md").read_text()
    summary_table = (repo / "reports/summary.md").read_text().strip()
    assert report.index("## Summary") < report.index("## Stage 1") and summary_table in report
    assert summary_table.count("\n| ") == 5  # one row per stage
    assert "## Stage 4: ResNet-18 reproduction" in report and "## Stage 5: SE-ResNet-18" in report
    assert "| stage5 vs stage4 " in report and "| stage5 vs no_cutout " in report
    primary = [line for line in report.splitlines() if line.startswith("**Primary test**, Stage 5 against Stage 4: ")]
    assert len(primary) == 2 and primary[0] == primary[1]  # the summary opens with the Stage 5 section's claim
    assert report.index(primary[0]) < report.index("## Stage 1")
    headline = read_json(repo / "metrics/headline.json")
    assert list(headline) == list(KEYS) and headline["acc1"] == round(100 * base["test_accuracy"], 2)
    assert "### Calibration" in report and "Weight decay in the full Stage 3 model" in report
    assert "## Stage 2: width and depth scaling" in report and "### Vanishing gradients" in report
    assert "### Parameter explosion" in report
    assert "## Stage 3: residual CNN" in report and "### Ablations" in report
    assert "**Profile: `smoke`**" in report and "## Stage 1: baseline CNN" in report
    assert f"{100 * base['test_accuracy']:.2f}%" in report
    assert "Network (b) equals a single affine map" in report
    for figure in report.split("](")[1:]:  # every image the report shows exists beside it
        assert (repo / "reports" / figure.split(")")[0]).is_file(), figure.split(")")[0]


def stage4_test_images(repo: Path) -> int:
    return read_json(repo / "runs/stage4/seed_0/results.json")["test_images"]


def _metric_values(repo: Path) -> dict[str, object]:
    """Every value `dvc metrics show` lists, by flattened key (file:key.subkey)."""
    result = dvc(repo, "metrics", "show", "--json")
    assert result.returncode == 0, result.stderr
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = value

    for workspace in json.loads(result.stdout).values():
        for file, content in workspace["data"].items():
            walk(file + ":", content["data"])
    return flat


def test_metrics_are_few_results_with_no_config_or_timing(repo):
    values = _metric_values(repo)
    # About 480 at the smoke profile: accuracies, losses, calibration, sizes, the comparisons; every
    # configuration's mean over its seeds and each seed's results (two seeds of the references and Stages 4-5).
    assert 100 < len(values) < 600, len(values)
    # No key (or part of one) names config, provenance or a measurement of time or memory.
    sections = {"config", "provenance", "runtime", "hardware", "device", "git_commit", "per_class_test_accuracy"}
    parts = {key: key.split(":", 1)[1].strip(".").split(".") for key in values}
    assert not [k for k, p in parts.items()
                if sections & set(p) or any(w in x for x in p for w in ("second", "memory"))]
    assert "metrics/stage5.json:.comparisons.stage5 vs stage4.verdict" in values


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
SEEDS = ("seed_0", "seed_1", "seed_2")  # every seed stage exists; a profile that does not train one skips it


def seeded(*groups: str, seeds=SEEDS) -> set[str]:
    """The per-seed stages of the given groups, e.g. seeded("stage4") = {"stage4@seed_0", ...}."""
    return {f"{group}@{seed}" for group in groups for seed in seeds}


STAGE1 = seeded("stage1", "stage1_experiments")
VARIANTS = {f"stage2@{name}-{seed}"
            for name in YAML(typ="safe").load((ROOT / "params.yaml").read_text())["stage2"]["variants"]
            for seed in SEEDS}
ABLATIONS = seeded(*(f"stage3_{c.ablation}" for c in STAGE3_COMPONENTS))
STAGE3 = seeded("stage3") | ABLATIONS
STAGE4 = seeded("stage4")
STAGE5 = seeded("stage5", *(f"stage5_{c.ablation}" for c in STAGE5_COMPONENTS))
TRAINING = {*STAGE1, *VARIANTS, "stage2_vanishing", "stage2_explosion", *STAGE3, *STAGE4, *STAGE5}
ANALYSIS = {"stage1_analysis", "stage2_analysis", "stage3_analysis", "stage45_analysis", "headline", "report"}
# What reads which trained seeds of the Stage 1 baseline: every comparison with it
BASELINE_READERS = {"stage1_analysis", "stage2_analysis", "stage3_analysis", "report"}


# A few cases cross-checked against the real `dvc status` of the reproduced smoke pipeline: the whole
# table (every switch, recipe, profile block, analysis-only and runtime key) is tests/unit/test_wiring.py,
# which reads the same dvc.yaml and params.yaml with DVC's own parser in seconds.
@pytest.mark.parametrize("key,value,expected", [
    ("profile", "quick", TRAINING | ANALYSIS),  # the analyses read which seeds the profile trains
    # A stage declares only the active profile's block (here smoke): the quick block is not its input.
    ("stage1.smoke.epochs", 2, STAGE1 | VARIANTS),  # Stage 2 trains with Stage 1's budget
    ("stage1.quick.epochs", 2, set()),
    ("stage2.loss_window", 5, {"stage2_analysis", "report"}),  # analysis only: no training run
    # Stage 5's documented `dvc exp run -S stage5.cutout=false`: stage5 and the other two ablations (the
    # analysis and report follow, as they read their runs).
    ("stage5.cutout", False, seeded("stage5", "stage5_no_se", "stage5_no_mixup")),
    # A seed's stages read only their own entry: changing seed_1's profiles reruns seed_1's runs (and the
    # analysis and report, which read the whole list), no other seed's.
    ("stage4.seeds.seed_1", ["full", "quick"],
     seeded("stage4", "stage5", "stage5_no_se", "stage5_no_mixup", "stage5_no_cutout", seeds=("seed_1",))
     | {"stage45_analysis", "report"}),
    # The same for a Stage 1-3 seed: the baseline's seed_2 reruns alone, with every comparison with the baseline.
    ("stage1.seeds.seed_2", ["full", "smoke"], {"stage1@seed_2"} | BASELINE_READERS),
    ("runtime.compile", "off", set()),  # runtime: how to run, never what
])
def test_a_param_change_marks_exactly_the_stages_that_read_it(repo, key, value, expected):
    original = (repo / "params.yaml").read_text()
    try:
        set_param(repo, key, value)
        assert _stale_stages(repo) == expected | {"check_params"}
    finally:
        (repo / "params.yaml").write_text(original)
    assert _stale_stages(repo) == set()


PKG = "src/cifar10_study"


@pytest.mark.parametrize("path,expected", [  # every module: tests/unit/test_wiring.py
    (f"{PKG}/reporting/report.py", {"report"}),
    # analysis/ is a folder dep of every analysis stage and of check_params (Params holds the analysis views)
    (f"{PKG}/analysis/stats.py", ANALYSIS | {"check_params"}),
    (f"{PKG}/experiments/stage4.py", STAGE4 | STAGE5 | {"check_params"}),  # Stage 5 reads its recipe
    # a network reruns the runs that train it: never the baseline CNN's
    (f"{PKG}/models/residual.py", STAGE3 | STAGE4 | STAGE5 | {"check_params"}),
    # the engine reruns the runs, never an analysis stage directly (they follow through changed runs)
    (f"{PKG}/training/engine.py", TRAINING | {"check_params"}),
])
def test_a_code_change_marks_exactly_the_stages_that_run_it(repo, path, expected):
    file = repo / path
    original = file.read_text()
    try:
        file.write_text(original + "\n# touched\n")
        assert _stale_stages(repo) == expected
    finally:
        file.write_text(original)


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


NO_FLIP_GROUP = """\
  stage3_no_flip:
    foreach: ${stage3.ablation_seeds}
    do:
      cmd: python stages/stage3.py ${key} no_flip
      deps: *stage3_deps
      params: [profile, precision, "stage3.ablation_seeds.${key}", stage3.residual, stage3.batchnorm, stage3.dropout,
               stage3.label_smoothing, stage3.weight_decay, stage3.model, stage3.train, "stage3.${profile}"]
      outs:
        - runs/stage3_ablations/no_flip/${key}

"""


def test_adding_a_stage3_component_as_the_docs_say_reruns_stage3_alone(repo):
    """docs/extending.md's Stage 3 recipe (a flip switch) applied to the reproduced pipeline, its four edits: then
    `dvc status` shows Stage 3's runs, the new ablation's and what reads the declaration; every Stage 1, 2, 4 and
    5 run stays cached."""
    stage3_py, declaration = repo / PKG / "experiments/stage3.py", repo / PKG / "components/stage3_components.py"
    touched = {path: path.read_text() for path in (repo / "params.yaml", repo / "dvc.yaml", stage3_py, declaration)}
    try:
        set_param(repo, "stage3.flip", True)
        _replace_once(stage3_py, "    weight_decay: NonNegativeFloat\n",
                      "    weight_decay: NonNegativeFloat\n    flip: bool\n")
        _replace_once(stage3_py, '    base["label_smoothing"] = values["label_smoothing"]\n',
                      '    base["label_smoothing"] = values["label_smoothing"]\n'
                      '    base["augment"]["flip"] = values["flip"]\n')
        _replace_once(declaration, '    Component("weight_decay", off=0.0),\n',
                      '    Component("weight_decay", off=0.0),\n    Component("flip", off=False),\n')
        dvc_yaml = repo / "dvc.yaml"  # the full model and every other ablation declare the new switch
        text = dvc_yaml.read_text()
        assert text.count(" stage3.model, stage3.train,") == 1 + len(STAGE3_COMPONENTS)
        text = text.replace(" stage3.model, stage3.train,", " stage3.flip, stage3.model, stage3.train,")
        dvc_yaml.write_text(text)
        _replace_once(dvc_yaml, "  stage3_analysis:\n", NO_FLIP_GROUP + "  stage3_analysis:\n")
        assert _stale_stages(repo) == STAGE3 | seeded("stage3_no_flip") | {"stage3_analysis", "report",
                                                                           "check_params"}
    finally:
        for path, text in touched.items():
            path.write_text(text)
    assert _stale_stages(repo) == set()


def test_the_analysis_and_report_read_every_run():
    """So a rerun run reruns what summarises it (DVC reruns a stage whose deps changed)."""
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    assert "runs" in stages["report"]["deps"]
    assert {"runs/stage4", "runs/stage5", "runs/stage5_ablations"} <= set(stages["stage45_analysis"]["deps"])
    assert {"runs/stage1", "runs/stage2", "runs/stage2_vanishing", "runs/stage2_explosion"} <= set(
        stages["stage2_analysis"]["deps"])  # runs/stage1: the variants' baseline
    assert {"runs/stage3", "runs/stage3_ablations"} <= set(stages["stage3_analysis"]["deps"])
    assert {"runs/stage1", "runs/stage1_experiments"} <= set(stages["stage1_analysis"]["deps"])


def test_bad_params_stop_dvc_repro_before_any_output_is_touched(repo):
    outputs = ["metrics/stage1.json", "metrics/stage1_experiments.json", "plots/stage1/history.csv",
               "reports/report.md", "runs/stage1/seed_0/weights.pt", "runs/stage1/seed_0/results.json"]
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


def _files(repo: Path, *folders: str, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for folder in folders for p in sorted((repo / folder).rglob("*"))
            if p.is_file() and p.name not in skip}


def test_a_retrained_stage_gives_byte_identical_outputs_and_the_same_lock(repo):
    """On CPU an identical rerun writes identical files: forcing a Stage 1 seed to train again, then
    reproducing what depends on it, rewrites its weights, results, info, history and predictions, and every
    metrics and Stage 1 plots file, byte for byte. Only timing.json (timings, memory, machine, commit) differs,
    and DVC ignores it (.dvcignore), so dvc.lock does not change."""
    lock = (repo / "dvc.lock").read_bytes()
    before = _files(repo, "runs/stage1", "metrics", "plots/stage1", skip=("timing.json",))
    assert {"runs/stage1/seed_0/weights.pt", "runs/stage1/seed_0/history.csv", "runs/stage1/seed_0/predictions.csv",
            "runs/stage1/seed_0/info.json"} <= before.keys()
    timing = (repo / "runs/stage1/seed_0/timing.json").read_bytes()
    forced, after = (dvc(repo, *args) for args in (("repro", "-f", "stage1@seed_0"), ("repro",)))
    for result in (forced, after):
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Running stage 'stage1@seed_0'" in forced.stdout
    # The retrained outputs hash as before, so nothing downstream of Stage 1 is stale: nothing runs.
    assert "Running stage" not in after.stdout and "Data and pipelines are up to date" in after.stdout
    assert _files(repo, "runs/stage1", "metrics", "plots/stage1", skip=("timing.json",)) == before
    assert (repo / "runs/stage1/seed_0/timing.json").read_bytes() != timing  # it was trained again, and timed
    assert (repo / "dvc.lock").read_bytes() == lock
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}


TIMING_FILES = ["plots/stage1_experiments/timing.csv", "plots/stage2/timing.csv", "plots/stage2_explosion/timing.csv",
                "reports/timing.md", "reports/tables/timing.csv", "reports/figures/timing/convergence.png",
                "reports/figures/timing/stage2_scaling.png"]
# What report.md and summary.md showed of the machine before it moved to timing.md.
MEASURED_WORDS = ("train time", "epoch time", "peak memory", "s/step", "images/s", "seconds to it", "Training took",
                  "git commit")


def _timing_file(path: str) -> bool:
    """A timing file of the analysis and report stages (analysis/measurements.py)."""
    return Path(path).name.startswith("timing.") or "timing" in Path(path).parent.parts


def test_what_the_machine_measured_is_only_in_timing_files_which_dvc_ignores(repo):
    tables = [p for folder in ("plots", "reports/tables") for p in (repo / folder).rglob("*.csv")]
    for table in tables:
        if not _timing_file(str(table.relative_to(repo))):
            assert not MEASURED & set(pd.read_csv(table).columns), table
    shown = (repo / "reports/report.md").read_text() + (repo / "reports/summary.md").read_text()
    hardware = read_json(repo / "runs/stage1/seed_0/timing.json")["provenance"]["hardware"]
    assert not [word for word in (*MEASURED_WORDS, hardware) if word in shown]
    assert "[timing.md](timing.md)" in (repo / "reports/report.md").read_text()
    for file in TIMING_FILES:
        assert (repo / file).is_file(), file
    assert {"variant", "mean_epoch_seconds", "peak_memory_bytes"} <= set(pd.read_csv(repo / TIMING_FILES[1]).columns)
    timing = (repo / "reports/timing.md").read_text()
    assert "| train time / run " in timing and "commit" in timing and "s/step (batch" in timing
    checked = dvc(repo, "check-ignore", *TIMING_FILES)
    assert sorted(checked.stdout.split()) == sorted(TIMING_FILES), checked.stdout
    try:  # a timing file edited (as a rerun on another machine rewrites it): DVC sees no change
        for file in TIMING_FILES:
            with (repo / file).open("ab") as f:
                f.write(b"\n")
        assert json.loads(dvc(repo, "status", "--json").stdout) == {}
    finally:
        subprocess.run(["git", "checkout", "-q", "--", *TIMING_FILES], cwd=repo, check=True)


def test_an_identical_rerun_of_the_analyses_and_the_report_elsewhere_changes_only_timing_files(repo):
    """The analyses and the report run again on the same runs, at another commit and with other timings
    (as on another machine): every output DVC tracks is byte-identical, so dvc.lock does not change; only the
    timing files differ."""
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()
    lock = (repo / "dvc.lock").read_bytes()
    outputs = ("metrics", "plots", "reports")
    before = {k: v for k, v in _files(repo, *outputs).items() if not _timing_file(k)}
    timed = repo / "runs/stage1/seed_0/timing.json"
    original = timed.read_text()
    times = json.loads(original)
    timed.write_text(json.dumps({**times, "train_seconds": 2 * times["train_seconds"],
                                 "epoch_seconds": [2 * t for t in times["epoch_seconds"]]}))
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "elsewhere"], cwd=repo, check=True)
    try:
        result = dvc(repo, "repro", "-f", "-s", "stage1_analysis", "stage2_analysis", "report")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        after = _files(repo, *outputs)
        assert {k: v for k, v in after.items() if not _timing_file(k)} == before
        assert (repo / "dvc.lock").read_bytes() == lock
        assert base[:12] not in after["reports/timing.md"].decode()  # written at the new commit
    finally:
        timed.write_text(original)
        subprocess.run(["git", "reset", "-q", "--hard", base], cwd=repo, check=True)


def test_dvc_leaves_timing_json_out_of_a_run_folders_hash(tmp_path):
    """The real DVC with the project's .dvcignore, on a tiny repo: a stage whose output folder holds a
    timing.json that changes on every run gets the same dvc.lock when forced to run again, and a checkout
    from the cache restores the folder without it (so the report must, and does, cope with its absence)."""
    shutil.copy(ROOT / ".dvcignore", tmp_path / ".dvcignore")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert dvc(tmp_path, "init", "-q").returncode == 0
    run = "runs/stage/seed_0"
    (tmp_path / "dvc.yaml").write_text(
        f"stages:\n  train:\n    cmd: mkdir -p {run} && echo same > {run}/results.json && "
        f"python -c 'import time; print(time.time_ns())' > {run}/timing.json\n    outs:\n      - {run}\n")
    assert dvc(tmp_path, "repro", "-q").returncode == 0
    lock, timing = (tmp_path / "dvc.lock").read_text(), (tmp_path / run / "timing.json").read_text()
    assert "nfiles: 1" in lock
    assert dvc(tmp_path, "repro", "-f", "-q").returncode == 0
    assert (tmp_path / run / "timing.json").read_text() != timing
    assert (tmp_path / "dvc.lock").read_text() == lock
    shutil.rmtree(tmp_path / run)
    assert dvc(tmp_path, "checkout", "-q").returncode == 0
    assert sorted(p.name for p in (tmp_path / run).iterdir()) == ["results.json"]


def test_an_analysis_stage_that_fails_midway_leaves_its_previous_outputs(repo):
    """stage1_analysis writes metrics/ first, then plots/stage1/: with plots/stage1 turned into a file the
    second write fails, and the new metrics it had already written (from a run result changed for the
    test) are not moved into place."""
    before = _files(repo, "metrics")
    plots, results = repo / "plots/stage1", repo / "runs/stage1/seed_0/results.json"
    original = results.read_text()
    results.write_text(json.dumps({**json.loads(original), "test_accuracy": 0.123}))
    shutil.move(plots, repo / "plots-stage1.saved")
    plots.write_text("a file where the folder should be")
    try:
        result = subprocess.run([sys.executable, "stages/stage1_analysis.py"], cwd=repo, env=pipeline_env(repo),
                                capture_output=True, text=True, timeout=300)
    finally:
        plots.unlink()
        shutil.move(repo / "plots-stage1.saved", plots)
        results.write_text(original)
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot access ") and len(result.stderr.strip().splitlines()) == 1
    assert "nothing was written: the previous outputs are untouched" in result.stderr
    assert _files(repo, "metrics") == before and not list((repo / "metrics").glob(".*.tmp"))


def test_the_run_cache_restores_an_experiment_instead_of_retraining(repo):
    """The documented `dvc exp run -S stage5.cutout=false`, then back to true: the second restores the run
    from DVC's run cache instead of training it. (Targeted at one Stage 5 run to keep CI short: which runs
    the switch marks is tests/unit/test_wiring.py's and the status test's job.)"""
    run = "stage5@seed_0"
    before = (repo / "runs/stage5/seed_0/results.json").read_bytes()
    off = dvc(repo, "exp", "run", "-S", "stage5.cutout=false", run)
    assert off.returncode == 0, off.stdout[-2000:] + off.stderr[-2000:]
    assert f"Running stage '{run}'" in off.stdout
    assert (repo / "runs/stage5/seed_0/results.json").read_bytes() != before  # trained without Cutout
    back = dvc(repo, "exp", "run", "-S", "stage5.cutout=true", run)
    assert back.returncode == 0, back.stdout[-2000:] + back.stderr[-2000:]
    assert f"Stage '{run}' is cached - skipping run, checking out outputs" in back.stdout
    assert f"Running stage '{run}'" not in back.stdout and "Running stage 'stage4@seed_0'" not in back.stdout
    assert (repo / "runs/stage5/seed_0/results.json").read_bytes() == before


# --- scaling out (docs/scaling-out.md) ----------------------------------------------------------------

def _stage_list(repo: Path, *args: str) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "cifar10_study.experiments.stage_list", *args], cwd=repo,
                            env=pipeline_env(repo), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_stage_list_names_every_training_stage_of_the_active_profile(repo):
    names, params = _stage_list(repo), _params(repo)
    seeds = [s for s, profiles in params["stage4"]["seeds"].items() if "smoke" in profiles]
    assert len(names) == len(set(names))  # no duplicates
    assert {f"stage4@{s}" for s in seeds} | {f"stage5_no_cutout@{s}" for s in seeds} <= set(names)
    assert {"stage1@seed_0", "stage1@seed_1", "stage3@seed_1", "stage3_no_dropout@seed_0"} <= set(names)
    for untrained in ("stage4@seed_2", "stage1@seed_2", "stage3_no_dropout@seed_1", "stage2@width_x2-seed_1"):
        assert untrained not in names  # seeds the smoke profile does not train
    assert not [n for n in names if "analysis" in n or n in ("report", "download", "check_params")]
    counts = {"stage1": len(_smoke_seeds(params, "stage1")), "stage1_experiments": 1,
              "stage2": len(params["stage2"]["variants"]), "stress tests": 2,
              "stage3": len(_smoke_seeds(params, "stage3")), "stage3 ablations": len(STAGE3_COMPONENTS),
              "stages 4-5": (1 + len(STAGE5_COMPONENTS) + 1) * len(seeds)}
    assert len(names) == sum(counts.values()), counts
    shares = [_stage_list(repo, "--workers", "2", "--worker", str(k)) for k in (0, 1)]
    assert sorted(shares[0] + shares[1]) == sorted(names) and not set(shares[0]) & set(shares[1])


def test_a_seed_the_profile_does_not_train_is_skipped_in_a_second(repo):
    skipped = json.loads((repo / "runs/stage4/seed_2/skipped.json").read_text())
    assert skipped["profile"] == "smoke" and "trains at the full profile" in skipped["reason"]
    assert not (repo / "runs/stage4/seed_2/results.json").exists()
    assert set(read_json(repo / "metrics/stage4.json")["per_seed"]) == {"0"}


def test_runtime_processes_trains_one_run_with_torchrun_and_two_processes(repo, tmp_path):
    """runtime.processes: 2 relaunches the stage under torchrun; the run is written once, by rank 0."""
    original = (repo / "params.yaml").read_text()
    saved = tmp_path / "seed_0"
    shutil.copytree(repo / "runs/stage4/seed_0", saved)
    try:
        set_param(repo, "runtime.processes", 2)
        result = subprocess.run([sys.executable, "stages/stage4.py", "seed_0"], cwd=repo, env=pipeline_env(repo),
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        info = read_json(repo / "runs/stage4/seed_0/info.json")
        assert info["processes"] == {"count": 2, "batch_per_process": 16}
        assert result.stdout.count("stage4/seed_0: test accuracy") == 1  # printed by rank 0 only
    finally:
        (repo / "params.yaml").write_text(original)
        shutil.rmtree(repo / "runs/stage4/seed_0")
        shutil.copytree(saved, repo / "runs/stage4/seed_0")
    assert _stale_stages(repo) == set()


def test_a_failing_process_stops_the_run_with_one_line(repo):
    """Three processes cannot split the smoke batch of 32: every process fails; the user reads one line."""
    original = (repo / "params.yaml").read_text()
    try:
        set_param(repo, "runtime.processes", 3)
        result = subprocess.run([sys.executable, "stages/stage5.py", "seed_0", "no_se"], cwd=repo,
                                env=pipeline_env(repo), capture_output=True, text=True, timeout=600)
    finally:
        (repo / "params.yaml").write_text(original)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: batch_size 32 does not split over runtime.processes = 3; choose a "
                                     "process count that divides it")
    assert _stale_stages(repo) == set()


def _clone(origin: Path, target: Path, remote: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(target)], check=True, capture_output=True)
    (target / "data/raw").mkdir(parents=True)
    shutil.copy(origin / "data/raw/cifar-10-python.tar.gz", target / "data/raw")
    result = dvc(target, "remote", "add", "-d", "shared", str(remote))
    assert result.returncode == 0, result.stderr
    return target


def test_workers_sharing_a_remote_train_each_run_once_and_anyone_restores_them(repo, tmp_path):
    """Two clones each train half of four Stage 4/5 runs (at the same time) and push them with
    `scaleout/worker.sh`; a third clone's `dvc repro --pull` of those runs then trains nothing and holds
    the same run files as the single machine that trained everything (the `repo` fixture). Four runs, not
    all of them, to keep CI short: the mechanism is the same for each."""
    origin = copy_pipeline(tmp_path / "origin")
    commit_everything(origin)
    remote = tmp_path / "remote"
    runs = ["stage4@seed_0", "stage5@seed_0", "stage5_no_se@seed_0", "stage5_no_cutout@seed_0"]
    assert set(runs) <= set(_stage_list(repo))
    workers = [_clone(origin, tmp_path / f"worker{k}", remote) for k in (0, 1)]
    procs = [subprocess.Popen(["bash", "scaleout/worker.sh", *runs[k::2]], cwd=w, env=pipeline_env(w),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k, w in enumerate(workers)]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    fresh = _clone(origin, tmp_path / "fresh", remote)
    # nothing to prepare the data from: it must come from the remote
    (fresh / "data/raw/cifar-10-python.tar.gz").unlink()
    result = dvc(fresh, "repro", "--pull", *runs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in runs:
        assert f"Stage '{name}' is cached - skipping run, checking out outputs" in result.stdout, name
        assert f"Running stage '{name}'" not in result.stdout, name
        group, seed = name.split("@")
        folder = {"stage4": "runs/stage4", "stage5": "runs/stage5"}.get(group, f"runs/stage5_ablations/{group[7:]}")
        for file in ("results.json", "predictions.csv", "weights.pt"):
            assert (fresh / folder / seed / file).read_bytes() == (repo / folder / seed / file).read_bytes(), name


def test_queued_experiments_run_with_dvc_queue_and_show_their_metrics(repo):
    """`dvc exp run --queue` then `dvc queue start`: an analysis-only experiment (cheap), run in its own
    temporary workspace from the committed tree and the DVC cache; `dvc exp show` lists it with its params
    and metrics. (One experiment: each costs a checkout of every run from the cache, ~45 s of CI time.)"""
    names = {"window-5": 5}
    for name, window in names.items():
        result = dvc(repo, "exp", "run", "--queue", "-n", name, "-S", f"stage2.loss_window={window}")
        assert result.returncode == 0, result.stderr
    assert dvc(repo, "queue", "start", "-j", "1").returncode == 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = dvc(repo, "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(5)
    assert "Failed" not in status and "Success" in status, status
    shown = json.loads(dvc(repo, "exp", "show", "--json").stdout)

    def find(node, name):
        if isinstance(node, dict):
            if node.get("name") == name and node.get("data"):
                return node["data"]
            node = list(node.values())
        if isinstance(node, list):
            return next((found for item in node if (found := find(item, name)) is not None), None)
        return None

    for name, window in names.items():
        data = find(shown, name)
        assert data is not None, name
        assert data["params"]["params.yaml"]["data"]["stage2"]["loss_window"] == window
        assert "metrics/stage2.json" in data["metrics"], data["metrics"].keys()



# --- the headline views (README "Comparing experiments") -----------------------------------------------

def test_the_headline_view_shows_two_experiments_in_120_columns_and_the_diff_between_branches(repo):
    """`./run.sh headline` and `./run.sh headline-diff`, as the README gives them, on two experiments. They
    change an analysis param and run only up to the headline stage (the view is what is tested, not
    training), then the workspace goes back to the committed repo."""
    names = {"alpha-low": 0.001, "alpha-high": 0.5}
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()
    # A commit of its own, so that `dvc exp show` lists these two experiments only, not other tests' ones.
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "headline view"], cwd=repo, check=True)
    try:
        for name, alpha in names.items():
            result = dvc(repo, "exp", "run", "-n", name, "-S", f"statistics.alpha={alpha}", "headline")
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        shown = run_sh(repo, "headline", env={"COLUMNS": "120"})
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.rstrip("\n").splitlines()
        assert max(len(line) for line in lines) <= 120 and "…" not in shown.stdout, shown.stdout
        header = lines[1].split()
        assert header == ["Experiment", *KEYS, "statistics.alpha"], shown.stdout  # nothing else
        headline = read_json(repo / "metrics/headline.json")
        for name, alpha in names.items():
            row = next(line for line in lines if f"[{name}]" in line).split()
            assert row[-1] == str(alpha) and row[-1 - len(KEYS)] == f"{headline['acc1']:g}", shown.stdout

        assert dvc(repo, "exp", "branch", "alpha-high", "alpha-high-branch").returncode == 0
        diff = run_sh(repo, "headline-diff", "HEAD", "alpha-high-branch")
        assert diff.returncode == 0, diff.stderr
        rows = [line.split() for line in diff.stdout.splitlines()]
        assert [r[1] for r in rows if r[0] == "metrics/headline.json"] == sorted(KEYS), diff.stdout  # all of them
        assert ["params.yaml", "statistics.alpha", "0.05", "0.5"] in rows, diff.stdout
    finally:
        subprocess.run(["git", "reset", "-q", "--hard", base], cwd=repo, check=True)


# --- the GPU command's CPU dry run (docs/gpu.md) ------------------------------------------------------

def test_the_gpu_study_command_runs_on_cpu_and_returns_its_few_files(repo, tmp_path):
    """tools/gpu_study.sh, the command a GPU machine without network or DVC runs, on CPU at the smoke profile, in the
    already reproduced repo (so DVC finds every stage up to date and CI pays seconds, not a second
    pipeline): the params it sets, `dvc repro` through this interpreter, and the files it writes back."""
    out = tmp_path / "out"
    env = pipeline_env(repo) | {"GPU_STUDY_DEVICE": "cpu", "GPU_STUDY_PROFILE": "smoke", "PYTHON": sys.executable}
    try:
        result = subprocess.run(["bash", "tools/gpu_study.sh", str(out)], cwd=repo, env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert _params(repo)["runtime"]["device"] == "cpu" and _params(repo)["profile"] == "smoke"
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "params.yaml"], cwd=repo, check=True)
    files = {p.name for p in out.iterdir()}
    assert {"study.tar.gz", "summary.md", "environment.json", "gpu_study.log"} <= files and len(files) <= 8
    with tarfile.open(out / "study.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"dvc.lock", "params.yaml", "metrics/headline.json", "reports/report.md", "reports/summary.md",
            "runs/stage4/seed_0/results.json", "runs/stage4/seed_0/predictions.csv", "runs/stage1/seed_0/history.csv",
            "runs/stage4/seed_2/skipped.json"} <= names
    assert not [n for n in names if n.endswith(".pt")]  # no weights travel back
    assert (out / "summary.md").read_text() == (repo / "reports/summary.md").read_text()
    record = json.loads((out / "environment.json").read_text())
    assert record["dvc_repro_status"] == 0 and record["profile"] == "smoke" and record["device"] == "cpu"


def test_the_gpu_study_command_trains_named_runs_several_at_once(repo, tmp_path):
    """tools/gpu_study.sh's named-run mode on CPU: with GPU_STUDY_CONCURRENT=2, stage4@seed_0 and stage5@seed_0
    train in two workers at the same time (scaleout/local_gpus.sh: a git worktree each, sharing this
    repository's DVC cache), this checkout then restores both from the run cache instead of training them
    again, and both come back with their timing, which exists only where a run trained. A longer smoke
    schedule makes the two runs new."""
    out, runs = tmp_path / "out", ["stage4@seed_0", "stage5@seed_0"]
    env = pipeline_env(repo) | {"GPU_STUDY_DEVICE": "cpu", "GPU_STUDY_PROFILE": "smoke", "GPU_STUDY_CONCURRENT": "2",
                                "PYTHON": sys.executable}
    set_param(repo, "stage4.smoke.epochs", 2)
    try:
        result = subprocess.run(["bash", "tools/gpu_study.sh", str(out), *runs], cwd=repo, env=env,
                                capture_output=True, text=True, timeout=900)
        log = (out / "gpu_study.log").read_text()
        assert result.returncode == 0, log[-4000:]
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "params.yaml"], cwd=repo, check=True)
        assert dvc(repo, "repro", *runs).returncode == 0  # the repository's own runs back, for the other tests
        for k in (0, 1):
            subprocess.run(["git", "worktree", "remove", "--force", f"../{repo.name}-worker-{k}"], cwd=repo)
    workers = log.split("--- ")[1:]
    assert [w.splitlines()[1] for w in workers] == ["worker 0 on GPU 0: stage4@seed_0",
                                                    "worker 1 on GPU 0: stage5@seed_0"]
    for worker, run in zip(workers, runs):
        assert f"Running stage '{run}'" in worker
        assert f"Stage '{run}' is cached - skipping run, checking out outputs" in log.split("--- ")[0]
    with tarfile.open(out / "study.tar.gz") as tar:
        names = set(tar.getnames())
        history = pd.read_csv(tar.extractfile("runs/stage5/seed_0/history.csv"))
    assert {f"runs/{r.replace('@', '/')}/{f}" for r in runs for f in ("results.json", "timing.json")} <= names
    assert len(history) == 2  # the new schedule's runs, not the repository's one-epoch ones
    # only this set's own files: not the tree's committed report and metrics, which named runs leave as they were
    assert not (out / "summary.md").exists() and not [n for n in names if n.startswith(("metrics/", "reports/"))]
    # and of the runs, only the two named ones (the repository has every smoke run, the worktrees old ones too)
    assert {n.rsplit("/", 1)[0] for n in names if n.startswith("runs/")} == {"runs/stage4/seed_0", "runs/stage5/seed_0"}
    record = json.loads((out / "environment.json").read_text())
    assert record["concurrent"] == 2 and record["stages"] == runs and record["dvc_repro_status"] == 0
    for run in runs:  # the steady epoch time the command prints, per ResNet run it trained
        epoch = record["resnet_epochs"][run.replace("@", "/")]
        assert epoch["batch_size"] == 32 and epoch["images_per_epoch"] == 64 and epoch["steady_epoch_seconds"] > 0
        assert f"gpu_study: {run.replace('@', '/')}: steady epoch " in log
