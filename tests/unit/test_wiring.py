"""The DVC wiring from dvc.yaml and params.yaml alone, in seconds: which stages a change to a params key
or a source module marks stale. DVC itself parses the pipeline (foreach, ${} interpolation) and reads the
declared params values, as `dvc status` compares them; nothing runs (tests/e2e/test_pipeline.py checks the
same against a real `dvc repro`, in minutes). A stage is listed when one of its own inputs changes;
the stages downstream of it follow through their data deps."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
from ruamel.yaml import YAML

from cifar10_study.components.stage3_components import STAGE3_COMPONENTS
from cifar10_study.components.stage5_components import STAGE5_COMPONENTS
from cifar10_study.components.switches import keys_declared_by
from helpers import ROOT

PKG = "src/cifar10_study"
PARAMS = YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())
ACTIVE = PARAMS["profile"]  # the profile block every stage declares (`stage1.${profile}`)
INACTIVE = sorted({"full", "preview", "quick", "smoke"} - {ACTIVE})

# Every training configuration but the two stress tests is one stage per seed of its section's `seeds` mapping
# (stage1@seed_0, ...), whatever the profile: a seed the active profile leaves out only writes a skip marker.
SEEDS = sorted(PARAMS["stage4"]["seeds"])  # Stages 4-5
STAGE1_SEEDS = sorted(PARAMS["stage1"]["seeds"])
EXPERIMENT_SEEDS = sorted(PARAMS["stage1_experiments"]["seeds"])
STAGE2_SEEDS = sorted(PARAMS["stage2"]["seeds"])
STAGE3_SEEDS = sorted(PARAMS["stage3"]["seeds"])  # the full model
ABLATION_SEEDS = sorted(PARAMS["stage3"]["ablation_seeds"])  # each Stage 3 ablation
STAGE3_GROUPS = tuple(f"stage3_{c.ablation}" for c in STAGE3_COMPONENTS)  # stage3_no_residual, ...
STAGE5_GROUPS = ("stage5", *(f"stage5_{c.ablation}" for c in STAGE5_COMPONENTS))


def seeded(*groups: str, seeds=SEEDS) -> set[str]:
    return {f"{group}@{seed}" for group in groups for seed in seeds}


def variants(*names: str, seeds=STAGE2_SEEDS) -> set[str]:
    """Stage 2's matrix stages: one per variant and seed, e.g. stage2@width_x2-seed_0."""
    return {f"stage2@{name}-{seed}" for name in names for seed in seeds}


STAGE1 = seeded("stage1", seeds=STAGE1_SEEDS)
EXPERIMENTS = seeded("stage1_experiments", seeds=EXPERIMENT_SEEDS)
VARIANTS = variants(*PARAMS["stage2"]["variants"])
STAGE3_FULL = seeded("stage3", seeds=STAGE3_SEEDS)
STAGE3_ABLATIONS = seeded(*STAGE3_GROUPS, seeds=ABLATION_SEEDS)
STAGE3 = STAGE3_FULL | STAGE3_ABLATIONS
STAGE4 = seeded("stage4")
STAGE5 = seeded(*STAGE5_GROUPS)
TRAINING = {*STAGE1, *EXPERIMENTS, *VARIANTS, "stage2_vanishing", "stage2_explosion", *STAGE3, *STAGE4, *STAGE5}
ANALYSIS = {"stage1_analysis", "stage2_analysis", "stage3_analysis", "stage45_analysis", "headline", "report"}


@dataclass(frozen=True)
class Stage:
    params: tuple[str, ...]  # declared params keys of params.yaml, interpolated
    paths: frozenset[str]  # file and folder deps, relative to the repository root
    outs: frozenset[str]
    cmd: str = ""


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    def rel(path: str) -> str:
        return Path(path).relative_to(ROOT).as_posix()

    with Repo(str(ROOT)) as repo:
        found = {}
        for stage in repo.index.stages:
            params = [d for d in stage.deps if isinstance(d, ParamsDependency)]
            assert all(rel(d.fs_path) == "params.yaml" for d in params), stage.addressing
            assert not [k for d in params for k in d.params if set(k) & set("*?[]")], stage.addressing
            found[stage.addressing] = Stage(tuple(k for d in params for k in d.params),
                                            frozenset(rel(d.fs_path) for d in stage.deps if d not in params),
                                            frozenset(rel(o.fs_path) for o in stage.outs), stage.cmd)
    return found


def load_params() -> dict:
    """params.yaml as DVC parses it."""
    from dvc.fs import LocalFileSystem
    from dvc.utils.serialize import load_path

    return load_path(str(ROOT / "params.yaml"), LocalFileSystem())


def declared_values(stage: Stage, params: dict) -> dict:
    """What DVC records for the stage's params (dvc.lock) and `dvc status` compares with the workspace:
    each declared key's value, missing keys left out, as dependency/param.py's read_param_file does
    (flatten=True). Its dpath.get on a plain dotted key is this walk down the mappings (the stages
    fixture checks that no key is a glob)."""
    values = {}
    for key in stage.params:
        node = params
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            values[key] = node
    return values


@pytest.fixture(scope="module")
def baseline(stages) -> tuple[dict, dict[str, dict]]:
    params = load_params()
    # copies: a declared section's value is the parsed mapping itself, which stale_after edits in place
    return params, {name: copy.deepcopy(declared_values(s, params)) for name, s in stages.items()}


def stale_after(stages: dict[str, Stage], baseline, key: str, value) -> set[str]:
    """The stages whose declared params (or the whole params file) read differently after setting `key`."""
    params, before = baseline
    *parents, last = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    assert last in node, f"{key} is not in params.yaml"
    original, node[last] = node[last], value
    try:
        stale = {name for name, s in stages.items() if declared_values(s, params) != before[name]}
    finally:
        node[last] = original
    return stale | {name for name, s in stages.items() if "params.yaml" in s.paths}


def stale_after_editing(stages: dict[str, Stage], file: str) -> set[str]:
    """The stages with `file`, or a folder holding it, among their deps."""
    parents = {file, *(p.as_posix() for p in PurePosixPath(file).parents)}
    return {name for name, s in stages.items() if s.paths & parents}


def test_the_training_stages_are_the_ones_that_write_runs(stages):
    assert {name for name, s in stages.items() if any(o.startswith("runs/") for o in s.outs)} == TRAINING
    assert set(stages) == TRAINING | ANALYSIS | {"check_params", "download"}


# Each seed stage's seeds entry, run folder and command, from its name (group@seed, stage2@variant-seed).
SEED_STAGES = [
    *[(name, f"stage1.seeds.{name[7:]}", f"runs/stage1/{name[7:]}", f"stages/stage1.py {name[7:]}")
      for name in sorted(STAGE1)],
    *[(name, f"stage1_experiments.seeds.{name[19:]}", f"runs/stage1_experiments/{name[19:]}",
       f"stages/stage1_experiments.py {name[19:]}") for name in sorted(EXPERIMENTS)],
    *[(f"stage2@{v}-{seed}", f"stage2.seeds.{seed}", f"runs/stage2/{v}/{seed}", f"stages/stage2.py {v} {seed}")
      for v in PARAMS["stage2"]["variants"] for seed in STAGE2_SEEDS],
    *[(f"stage3@{seed}", f"stage3.seeds.{seed}", f"runs/stage3/{seed}", f"stages/stage3.py {seed}")
      for seed in STAGE3_SEEDS],
    *[(f"stage3_{c.ablation}@{seed}", f"stage3.ablation_seeds.{seed}", f"runs/stage3_ablations/{c.ablation}/{seed}",
       f"stages/stage3.py {seed} {c.ablation}") for c in STAGE3_COMPONENTS for seed in ABLATION_SEEDS],
    *[(f"stage4@{seed}", f"stage4.seeds.{seed}", f"runs/stage4/{seed}", f"stages/stage4.py {seed}") for seed in SEEDS],
]


def test_every_seed_stage_declares_its_own_seed_entry_alone_trains_that_seed_and_writes_its_own_folder(stages):
    """A seed stage declares one seeds entry, its own (so adding a profile to a seed retrains that seed alone, and
    experiments/stage_list.py finds the profiles that train the stage from it), passes that seed to its script,
    and writes that seed's folder only."""
    assert {row[0] for row in SEED_STAGES} == TRAINING - STAGE5 - {"stage2_vanishing", "stage2_explosion"}
    for name, entry, out, cmd in SEED_STAGES:
        stage = stages[name]
        assert [k for k in stage.params if ".seeds." in k or ".ablation_seeds." in k] == [entry], name
        assert stage.outs == {out}, name
        assert stage.cmd == f"python {cmd}", name
    for name in ("stage2_vanishing", "stage2_explosion"):  # the stress tests train once, with their own seed
        assert not [k for k in stages[name].params if "seeds" in k], name


def another_value(key: str):
    """A value of params.yaml's `key` other than its own (the wiring reads values, it validates none)."""
    section, name = key.split(".")
    value = PARAMS[section][name]
    return (not value) if isinstance(value, bool) else value + 1


P = ACTIVE
CASES = [
    # Stage 5's documented `dvc exp run -S stage5.cutout=false`: the full model and the ablations that keep
    # the component, never the ablation without it; the same for each switch and each setting.
    # (every seed's stage: DVC declares them all; a seed the active profile leaves out only writes a marker)
    *[(f"stage5.{key}", another_value(f"stage5.{key}"), STAGE5 - seeded(f"stage5_{c.ablation}"))
      for c in STAGE5_COMPONENTS for key in c.keys],
    # Stage 3: a switch reruns the full model and every ablation but its own, every seed of each.
    *[(f"stage3.{c.switch}", another_value(f"stage3.{c.switch}"),
       STAGE3 - seeded(f"stage3_{c.ablation}", seeds=ABLATION_SEEDS)) for c in STAGE3_COMPONENTS],
    ("stage3.train.optimizer.lr", 0.05, STAGE3),
    ("stage3.model.blocks_per_stage", 2, STAGE3),
    (f"stage3.{P}", {"epochs": 1}, STAGE3),
    *[(f"stage3.{p}", {"epochs": 1}, set()) for p in INACTIVE],
    # Stage 5 trains with Stage 4's recipe and seeds.
    ("stage4.train.optimizer.lr", 0.05, STAGE4 | STAGE5),
    (f"stage4.{P}", {"epochs": 1}, STAGE4 | STAGE5),
    *[(f"stage4.{p}", {"epochs": 1}, set()) for p in INACTIVE],
    # A seed's entry (the profiles that train it) marks that seed's runs only, and the analysis.
    ("stage4.seeds.seed_1", ["full", "quick"],
     seeded("stage4", *STAGE5_GROUPS, seeds=["seed_1"]) | {"stage45_analysis", "report"}),
    # The Stage 1-3 seeds likewise: one entry reruns that seed's stage of its own configuration, and the analyses
    # that read those runs (the Stage 1 baseline's seeds are the reference of Stages 1, 2 and 3).
    ("stage1.seeds.seed_1", ["full"],
     {"stage1@seed_1", "stage1_analysis", "stage2_analysis", "stage3_analysis", "report"}),
    ("stage1_experiments.seeds.seed_1", ["full", "quick"],
     {"stage1_experiments@seed_1", "stage1_analysis", "report"}),
    ("stage2.seeds.seed_2", ["full", "quick"], variants(*PARAMS["stage2"]["variants"], seeds=["seed_2"])
     | {"stage2_analysis", "report"}),
    ("stage3.seeds.seed_0", ["full"], {"stage3@seed_0", "stage3_analysis", "report"}),
    ("stage3.ablation_seeds.seed_1", ["full", "quick"],
     seeded(*STAGE3_GROUPS, seeds=["seed_1"]) | {"stage3_analysis", "report"}),
    ("stage1.train.optimizer.lr", 0.01, STAGE1 | EXPERIMENTS | VARIANTS),
    ("stage1.model.hidden", 128, STAGE1 | EXPERIMENTS | VARIANTS | {"stage2_explosion"}),
    (f"stage1.{P}", {"epochs": 1}, STAGE1 | EXPERIMENTS | VARIANTS),  # Stage 2 trains with its budget
    ("stage1_experiments.bottleneck_widths", [2, 8], EXPERIMENTS),
    ("stage2.variants.width_x2", {"width": 3, "convs_per_stage": 1},
     variants("width_x2") | {"stage2_analysis", "report"}),
    # Analysis-only params rerun the analysis and the report, never a training run.
    ("stage2.loss_window", 5, {"stage2_analysis", "report"}),
    ("stage2.learned_accuracy", 0.3, {"stage2_analysis", "report"}),
    # The significance level and power judge every comparison, Stages 1-5.
    ("statistics.alpha", 0.01, {"stage1_analysis", "stage2_analysis", "stage3_analysis", "stage45_analysis", "report"}),
    (f"stage2_explosion.train_budget_tflop.{P}", 99.0, {"stage2_explosion"}),
    ("data.val_size", 40, {"download"}),
    ("data.split_seed", 3, {"download"}),
    ("profile", "full" if P != "full" else "quick",
     TRAINING | {"stage1_analysis", "stage2_analysis", "stage3_analysis", "stage45_analysis", "headline", "report"}),
    # The precision changes every training run's numbers (device.py), so every training run reruns.
    ("precision", "fp32" if PARAMS["precision"] != "fp32" else "auto", TRAINING),
]


@pytest.mark.parametrize("key,value,expected", CASES, ids=[c[0] for c in CASES])
def test_a_params_key_marks_exactly_the_stages_that_read_it(stages, baseline, key, value, expected):
    # check_params validates the whole file, so any edit marks it; its marker output does not change.
    assert stale_after(stages, baseline, key, value) == expected | {"check_params"}


@pytest.mark.parametrize("key", sorted(PARAMS["runtime"]))
def test_each_runtime_key_marks_no_stage(stages, baseline, key):
    assert stale_after(stages, baseline, f"runtime.{key}", "changed") == {"check_params"}


def leaves(node, prefix=""):
    """Every key path of params.yaml whose value is not a mapping with keys (empty blocks included)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def test_every_params_key_is_read_by_a_stage_unless_it_cannot_change_a_result(stages, baseline):
    """A key no stage declares must be one that changes no result: runtime, or an inactive profile's block."""
    unread = {key for key in leaves(PARAMS) if stale_after(stages, baseline, key, "changed") == {"check_params"}}
    assert unread == {key for key in leaves(PARAMS)
                      if key.split(".")[0] == "runtime" or set(key.split(".")[1:]) & set(INACTIVE)}
    assert {"runtime.compile", f"stage1.{INACTIVE[0]}",
            *(f"stage4.{p}.epochs" for p in INACTIVE if p != "full")} <= unread
    if ACTIVE != "full":  # the full profile's one override: Stages 4-5 train on the validation split too
        assert "stage4.full.train_on_validation" in unread


MODULES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / PKG).rglob("*.py"))


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith((f"{PKG}/analysis/", f"{PKG}/reporting/"))])
def test_editing_analysis_or_reporting_code_marks_no_training_stage(stages, module):
    # check_params may rerun (Params holds the analysis views): it only validates, and its marker is unchanged.
    stale = stale_after_editing(stages, module)
    assert stale - {"check_params"} and not stale & TRAINING and stale <= ANALYSIS | {"check_params"}


@pytest.mark.parametrize("module,expected", [
    # Training code reruns the training runs (their analysis follows through the runs' files) and check_params,
    # which validates params.yaml with every config class; never an analysis stage directly.
    (f"{PKG}/training/engine.py", TRAINING | {"check_params"}),
    (f"{PKG}/data/augment.py", TRAINING | {"check_params"}),
    (f"{PKG}/data/cifar10.py", TRAINING | {"check_params", "download"}),
    (f"{PKG}/training/checkpoint.py", TRAINING | {"check_params"}),
    (f"{PKG}/core/params_file.py", TRAINING | ANALYSIS | {"check_params", "download"}),
    (f"{PKG}/core/layout.py", TRAINING | ANALYSIS | {"check_params", "download"}),
    (f"{PKG}/params.py", {"check_params"}),
    (f"{PKG}/experiments/stage5.py", STAGE5 | {"check_params"}),
    (f"{PKG}/experiments/stage4.py", STAGE4 | STAGE5 | {"check_params"}),  # Stage 5 reads its recipe
    (f"{PKG}/experiments/stage3.py", STAGE3 | {"check_params"}),
    # A network's code reruns the runs that train it: the residual network never reruns the baseline CNN's.
    (f"{PKG}/models/residual.py", STAGE3 | STAGE4 | STAGE5 | {"check_params"}),
    (f"{PKG}/models/baseline.py", STAGE1 | EXPERIMENTS | VARIANTS | {"stage2_vanishing", "stage2_explosion",
                                                                    "check_params"}),
    (f"{PKG}/models/registry.py", {"check_params"}),  # for evaluate and predict: no training stage runs it
    # A component declaration reruns its own stage's runs and the analysis that names them, no other stage's.
    (f"{PKG}/components/stage3_components.py", STAGE3 | {"check_params", "stage3_analysis", "report"}),
    (f"{PKG}/components/stage5_components.py", STAGE5 | {"check_params", "stage45_analysis", "headline", "report"}),
    (f"{PKG}/analysis/outputs.py", {"check_params", *ANALYSIS}),
    (f"{PKG}/analysis/stats.py", {"check_params", "stage1_analysis", "stage2_analysis", "stage3_analysis",
                                  "stage45_analysis", "headline", "report"}),
    (f"{PKG}/views.py", set()),  # the views run in no stage: editing them reruns nothing
    (f"{PKG}/reporting/stage45_report.py", {"report"}),
    ("stages/stage5.py", STAGE5),
    ("stages/stage3.py", STAGE3),  # the full model's and every ablation's seeds
    ("stages/stage2.py", VARIANTS),
    ("stages/stage1.py", STAGE1),
])
def test_a_source_module_marks_exactly_the_stages_that_run_it(stages, module, expected):
    assert stale_after_editing(stages, module) == expected


def test_every_training_stage_runs_the_engine_and_no_analysis_or_reporting_code(stages):
    for name in TRAINING:
        runs = {m for m in MODULES if stale_after_editing({name: stages[name]}, m)}  # declared, or in a declared folder
        assert f"{PKG}/training/engine.py" in runs, name
        assert not {m for m in runs if m.startswith((f"{PKG}/analysis/", f"{PKG}/reporting/"))}, name


@pytest.mark.parametrize("profile", ["full", "preview", "smoke"])
def test_at_every_profile_dvc_resolves_each_stages_own_override_block(tmp_path, profile):
    """dvc.yaml at another profile: every `${profile}` resolves to a block params.yaml has (a missing one would
    stop DVC before any stage ran), and each training stage reads only that profile's block."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo
    from ruamel.yaml import YAML

    yaml = YAML()
    doc = yaml.load(ROOT / "params.yaml")
    doc["profile"] = profile
    yaml.dump(doc, tmp_path / "params.yaml")
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    Repo.init(str(tmp_path), no_scm=True)
    with Repo(str(tmp_path)) as repo:
        declared = {s.name: [k for d in s.deps if isinstance(d, ParamsDependency) for k in d.params]
                    for s in repo.index.stages}
    other = {"full", "preview", "quick", "smoke"} - {profile}
    for name, section in [("stage1@seed_0", "stage1"), ("stage1_experiments@seed_0", "stage1"),
                          ("stage2@width_x2-seed_0", "stage1"), ("stage3@seed_0", "stage3"),
                          ("stage3_no_residual@seed_0", "stage3"), ("stage4@seed_0", "stage4"),
                          ("stage5@seed_0", "stage4")]:
        assert f"{section}.{profile}" in declared[name], name
    for name, keys in declared.items():
        assert not [k for k in keys if k.rsplit(".", 1)[-1] in other], name
        for key in keys:  # each declared key is in params.yaml
            node = doc
            for part in key.split("."):
                assert part in node, f"{name} declares {key}, which params.yaml at profile {profile} lacks"
                node = node[part]


@pytest.mark.parametrize("section,components,full,ablation_stage", [
    ("stage3", STAGE3_COMPONENTS, [f"stage3@{s}" for s in STAGE3_SEEDS],
     lambda ablation: [f"stage3_{ablation}@{s}" for s in ABLATION_SEEDS]),
    ("stage5", STAGE5_COMPONENTS, [f"stage5@{s}" for s in SEEDS],
     lambda ablation: [f"stage5_{ablation}@{s}" for s in SEEDS])])
def test_dvc_yaml_has_one_ablation_per_declared_component_declaring_every_other_components_keys(
        stages, section, components, full, ablation_stage):
    """The declaration (components/) and dvc.yaml's rows in step, as DVC resolves them: the full model declares
    every component key, each ablation every key but its own component's, and no row is missing or extra, so
    a row whose template drops a key (a fixed index too few) fails here."""
    def component_keys(name: str) -> set[str]:
        return {k.removeprefix(f"{section}.") for k in stages[name].params} & {k for c in components for k in c.keys}

    for name in full:
        assert component_keys(name) == keys_declared_by(components, None), name
    expected = {stage for c in components for stage in ablation_stage(c.ablation)}
    rows = {name for name in stages if name.startswith(f"{section}_")} - {f"{section}_analysis"}
    assert rows == expected
    for c in components:
        for name in ablation_stage(c.ablation):
            assert component_keys(name) == keys_declared_by(components, c.ablation), name
