"""The layout's rules, checked on the source and dvc.yaml (no pipeline run): imports only point down
(reporting -> analysis -> experiments -> training -> models -> data -> core; components/, the declarations of
Stages 3 and 5's components, sits on core/ for experiments and analysis alike), core/ imports nothing above it,
analysis and reporting import no training code, every module a stage imports is covered by its DVC deps, and
training stages keep DVC's run cache on (every output cached)."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Iterator

import pytest
from ruamel.yaml import YAML

from helpers import ROOT

PKG = ROOT / "src/cifar10_study"
# The packages a training stage runs; analysis/ and reporting/ sit above them and read the runs' files.
TRAINING_SIDE = ("core", "components", "data", "models", "training", "experiments")
# What analysis and reporting must not import: the code that trains (and `params`, which assembles its configs).
TRAINING_CODE = {"models", "training", "experiments", "params"}


def _import_statements(path: Path) -> Iterator[tuple[list[str], list[str]]]:
    """Each cifar10_study import anywhere in `path` (at the top, in a function, under a condition), relative or
    absolute: (the module it imports from, as parts below the package, resolved against `path`'s own package;
    the names it imports from it, none for a plain `import`)."""
    package = path.relative_to(PKG).parent.parts if path.is_relative_to(PKG) else ()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                yield ([*package[:len(package) - node.level + 1], *(node.module.split(".") if node.module else [])],
                       [alias.name for alias in node.names])
            elif node.module and node.module.split(".")[0] == "cifar10_study":
                yield node.module.split(".")[1:], [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "cifar10_study":
                    yield alias.name.split(".")[1:], []


def _imported(path: Path) -> set[str]:
    """The cifar10_study modules a module imports (relative or absolute), as dotted names below the package,
    e.g. {'core.fileio', 'training'} (a `from . import x` of a package names the package)."""
    found = set()
    for parts, names in _import_statements(path):
        found |= {".".join(parts)} if parts else set(names)
    return found


def _packages(path: Path) -> set[str]:
    """The cifar10_study subpackages (or top-level modules) a module imports, e.g. {'core', 'training'}."""
    return {name.split(".")[0] for name in _imported(path)}


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (PKG / package).rglob("*.py"))


@pytest.mark.parametrize("package", TRAINING_SIDE)
def test_training_code_never_imports_analysis_or_reporting(package):
    for path in _modules(package):
        assert not _packages(path) & {"analysis", "reporting"}, path.relative_to(ROOT)


def test_the_component_declarations_import_only_core():
    for path in _modules("components"):
        assert _packages(path) <= {"core", "components"}, path.relative_to(ROOT)


def test_core_imports_nothing_else_of_the_package():
    for path in _modules("core"):
        assert _packages(path) <= {"core"}, path.relative_to(ROOT)
    assert not _imported(PKG / "core/layout.py"), "the run layout is a leaf: it imports nothing of the package"


@pytest.mark.parametrize("package", ("analysis", "reporting"))
def test_analysis_and_reporting_import_no_training_code(package):
    for path in _modules(package):
        assert not _packages(path) & TRAINING_CODE, path.relative_to(ROOT)


def test_the_import_probe_sees_a_violation():
    """The checks above can fail: planted imports of reporting code from a training module, and of training
    code from core, are found."""
    planted = PKG / "training" / "_planted_for_test.py"
    planted.write_text("from ..reporting import plots\nfrom . import engine\nfrom ..core.layout import RUNS\n")
    try:
        assert _imported(planted) == {"reporting", "training", "core.layout"}
        assert _packages(planted) == {"reporting", "training", "core"}
    finally:
        planted.unlink()


def test_no_two_modules_of_the_package_share_a_name():
    """So no import needs an alias to tell two apart (`from ..analysis import stage1 as stage1_analysis`)."""
    names = [p.name for p in PKG.rglob("*.py") if p.name != "__init__.py"]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


# --- DVC deps against what each stage imports --------------------------------------------------------------

def _stages() -> dict:
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def _training_stages() -> dict:
    """Stages whose outputs are runs (runs/...)."""
    def out_paths(stage):
        return [o if isinstance(o, str) else next(iter(o)) for o in stage.get("outs", [])]
    return {name: s for name, s in _stages().items() if any(p.startswith("runs") for p in out_paths(s))}


def _covers(deps: list[str], module: str) -> bool:
    """Whether one of `deps` is `module` or a folder holding it."""
    return bool({module, *(p.as_posix() for p in PurePosixPath(module).parents)} & set(deps))


# Package __init__ files that hold only a docstring: no stage needs them among its deps (an edit to one
# cannot change a result), which keeps dvc.yaml's deps to the code a stage runs.
DOCSTRING_ONLY = [p for p in PKG.rglob("__init__.py")
                  if all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                         for n in ast.parse(p.read_text()).body)]


def test_package_init_files_left_out_of_deps_hold_only_a_docstring():
    assert {p.relative_to(PKG).as_posix() for p in DOCSTRING_ONLY} >= {
        "__init__.py", "core/__init__.py", "training/__init__.py", "experiments/__init__.py",
        "analysis/__init__.py", "reporting/__init__.py", "components/__init__.py", "models/__init__.py"}
    assert PKG / "data/__init__.py" not in DOCSTRING_ONLY  # it holds CIFAR-10's constants: a real dependency


PROBE = """
import importlib.util, json, pathlib, sys
spec = importlib.util.spec_from_file_location("stage_under_test", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
src = pathlib.Path("src").resolve()
print(json.dumps(sorted(
    str(pathlib.Path(m.__file__).resolve().relative_to(src.parent)) for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and pathlib.Path(m.__file__).resolve().is_relative_to(src))))
"""


@pytest.fixture(scope="module")
def imported_by_script() -> dict[str, set[str]]:
    """Stage script -> the package modules that importing it loads (one fresh interpreter per script, two at
    a time: CI has two cores, and most of a probe is importing torch)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def probe(script: str) -> set[str]:
        result = subprocess.run([sys.executable, "-c", PROBE, script], cwd=ROOT, env=env, capture_output=True,
                                text=True, check=True)
        return set(json.loads(result.stdout))

    scripts = sorted({stage["cmd"].split()[1] for stage in _stages().values()})
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(scripts, pool.map(probe, scripts)))


@pytest.fixture(scope="module")
def closure_of_script() -> dict[str, set[str]]:
    """Stage script -> its static import closure (import_closure below), computed once for every test here."""
    return {script: import_closure(ROOT / script) for script in {s["cmd"].split()[1] for s in _stages().values()}}


def test_every_module_a_stage_imports_is_covered_by_its_deps(closure_of_script):
    """A module a stage runs but does not declare would let DVC reuse stale results after an edit (every stage;
    a training stage's deps are held to its closure both ways below)."""
    skipped = {p.relative_to(ROOT).as_posix() for p in DOCSTRING_ONLY}
    for name, stage in _stages().items():
        script = stage["cmd"].split()[1]
        assert script in stage["deps"], name
        missing = sorted(m for m in closure_of_script[script] - skipped if not _covers(stage["deps"], m))
        assert not missing, (name, missing)


def test_a_code_dep_is_a_folder_or_a_module_the_stage_imports(closure_of_script):
    """Deps by folder, not file by file where a folder says the same; and no module a stage does not run."""
    for name, stage in _stages().items():
        imported = closure_of_script[stage["cmd"].split()[1]]
        for dep in (d for d in stage["deps"] if d.startswith("src/")):
            if dep.endswith(".py"):
                assert dep in imported, (name, dep)
                assert not _covers([d for d in stage["deps"] if d != dep], dep), \
                    (name, f"{dep} is in a declared folder")
            else:
                assert any(m.startswith(dep + "/") for m in imported), (name, f"{dep}: nothing in it is imported")


def test_training_stages_declare_no_analysis_code_and_no_runtime_key():
    """So editing a statistic, a figure or a sentence of the report reruns no training run."""
    analysis = [f"src/cifar10_study/{p}/x.py" for p in ("analysis", "reporting")]
    for name, stage in _training_stages().items():
        assert not [m for m in analysis if _covers(stage["deps"], m)], name
        assert not [p for p in stage.get("params", []) if str(p).startswith("runtime")], name


def test_analysis_stages_and_the_report_declare_no_training_code():
    """So editing the engine, a model or an experiment reruns the runs it trains, then their analysis
    through the runs' files (when they changed), never an analysis stage directly."""
    training = [f"src/cifar10_study/{p}/x.py" for p in ("models", "training", "experiments")]
    for name, stage in _stages().items():
        if name.endswith("_analysis") or name == "report":
            assert not [m for m in training if _covers(stage["deps"], m)], name
            assert "src/cifar10_study/params.py" not in stage["deps"], name


def test_every_training_stage_caches_all_its_outputs():
    """A `cache: false` output turns DVC's run cache off for the stage, and `dvc push --run-cache` never
    sends an uncached file, so no other machine could restore the run."""
    training = _training_stages()
    # stage1, stage1_experiments, stage2, vanishing, explosion, stage3, one group per Stage 3 ablation, stage4,
    # stage5 and one group per Stage 5 ablation (each a foreach or matrix over its seeds, but for the stress tests)
    assert set(training) == {"stage1", "stage1_experiments", "stage2", "stage2_vanishing", "stage2_explosion",
                             "stage3", "stage3_no_residual", "stage3_no_batchnorm", "stage3_no_dropout",
                             "stage3_no_label_smoothing", "stage3_no_weight_decay", "stage4", "stage5",
                             "stage5_no_se", "stage5_no_mixup", "stage5_no_cutout"}
    for name, stage in training.items():
        entries = stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", [])
        uncached = [e for e in entries if isinstance(e, dict) and any(v.get("cache") is False for v in e.values())]
        assert not uncached, (name, uncached)


def test_profile_blocks_are_declared_for_the_active_profile_only():
    """`stage1.${profile}`, never both `stage1.quick` and `stage1.smoke`: editing another profile's block
    must not rerun anything (checked through DVC in test_pipeline)."""
    for name, stage in _stages().items():
        params = [str(p) for p in stage.get("params", [])]
        assert not [p for p in params if p.endswith((".quick", ".smoke", ".full"))], (name, params)


@pytest.mark.parametrize("script,args,expected", [
    ("stage2.py", [], "stage2.py <variant"),
    ("stage2.py", ["width_x2"], "stage2.py <seed (a key of stage2.seeds"),
    ("stage1.py", [], "stage1.py <seed (a key of stage1.seeds"),
    ("stage1_experiments.py", [], "stage1_experiments.py <seed (a key of stage1_experiments.seeds"),
    ("stage3.py", [], "stage3.py <seed (a key of stage3.seeds or stage3.ablation_seeds"),
    ("stage4.py", [], "stage4.py <seed (a key of stage4.seeds"),
])
def test_a_stage_needing_an_argument_says_so_in_one_line(script, args, expected):
    """Every seed stage takes its seed (the Stage 2 variants their variant, then the seed); without it, one line
    and nothing written."""
    result = subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: usage: python ") and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


SEED_STAGE_SCRIPTS = ["stages/stage1.py", "stages/stage1_experiments.py", "stages/stage2.py", "stages/stage3.py",
                      "stages/stage4.py", "stages/stage5.py"]


def test_a_seed_stage_script_loads_no_training_code_before_its_skip_check(imported_by_script):
    """A seed stage that the active profile leaves out is skipped reading params.yaml alone (core/seeds.py): its
    script imports the experiment and training code (and with them torch) inside main, after the check, so that
    importing it loads core and the component declarations only."""
    assert set(SEED_STAGE_SCRIPTS) <= set(imported_by_script)
    for script in SEED_STAGE_SCRIPTS:
        packages = {PurePosixPath(m).relative_to("src/cifar10_study").parts[0] for m in imported_by_script[script]}
        assert packages <= {"__init__.py", "core", "components"}, (script, sorted(imported_by_script[script]))
        assert "src/cifar10_study/core/seeds.py" in imported_by_script[script], script
    # ... while the training code still runs there: it is in the script's static closure, below the check.
    assert "src/cifar10_study/training/engine.py" in import_closure(ROOT / "stages/stage3.py")


# --- A training stage's code deps: exactly the code it runs -----------------------------------------------------

def _module_file(dotted: str) -> Path | None:
    """The file of module cifar10_study.<dotted> (a package's __init__.py; "" is the package), or None."""
    path = PKG.joinpath(*dotted.split(".")) if dotted else PKG
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports_anywhere(path: Path) -> set[str]:
    """The cifar10_study modules `path` imports anywhere in it, as dotted names below the package (the package
    itself as ""); `from .x import y` names x.y too where y is a module."""
    found = set()
    for parts, names in _import_statements(path):
        found.add(".".join(parts))
        found |= {module for name in names if _module_file(module := ".".join([*parts, name]))}
    return found


def import_closure(script: Path) -> set[str]:
    """The package files (relative to the repository) that running `script` can import: its imports, theirs and
    so on, with the __init__.py of every package on the way (importing a.b runs a/__init__.py first). Static,
    so an import inside a function counts although no import trace at start-up would see it."""
    files, todo = set(), [script]
    while todo:
        for dotted in _imports_anywhere(todo.pop()):
            parts = dotted.split(".") if dotted else []
            for n in range(len(parts) + 1):
                path = _module_file(".".join(parts[:n]))
                if path is not None and path not in files:
                    files.add(path)
                    todo.append(path)
    return {p.relative_to(ROOT).as_posix() for p in files}


def code_deps(closure: set[str]) -> set[str]:
    """`closure` as dvc.yaml writes a stage's code deps: a folder where every module in it is in the closure,
    otherwise its modules one by one; docstring-only package __init__ files left out (they change no result)."""
    skipped = {p.relative_to(ROOT).as_posix() for p in DOCSTRING_ONLY}
    deps = set()
    for folder in sorted({PurePosixPath(m).parent for m in closure}, key=lambda f: len(f.parts)):
        if any(f in folder.parents for f in map(PurePosixPath, deps)):
            continue  # inside a folder already declared whole
        modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.py")}
        if folder != PurePosixPath(PKG.relative_to(ROOT).as_posix()) and modules <= closure:
            deps.add(folder.as_posix())
    return deps | {m for m in closure - skipped if not _covers(sorted(deps), m)}


def test_each_training_stage_depends_on_exactly_the_code_it_runs(closure_of_script):
    """A module it runs but does not declare: the run cache would serve a stale run after an edit to it. A module
    it declares but never runs: an edit to it retrains the stage for nothing."""
    for name, stage in _training_stages().items():
        script = stage["cmd"].split()[1]
        expected = code_deps(closure_of_script[script])
        declared = {d for d in stage["deps"] if d.startswith("src/")}
        assert declared == expected, (name, {"missing": sorted(expected - declared),
                                             "not run": sorted(declared - expected)})


def test_the_static_closure_holds_every_module_a_stage_loads(imported_by_script, closure_of_script):
    """The import trace at start-up (imported_by_script) is a subset of the static closure, for every stage."""
    for script, loaded in imported_by_script.items():
        assert loaded <= closure_of_script[script], (script, sorted(loaded - closure_of_script[script]))


def test_the_closure_sees_imports_inside_functions_and_package_inits(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("def main():\n    from cifar10_study.experiments import stage3\n")
    closure = import_closure(script)
    assert {"src/cifar10_study/experiments/stage3.py", "src/cifar10_study/experiments/__init__.py",
            "src/cifar10_study/components/stage3_components.py", "src/cifar10_study/models/residual.py",
            "src/cifar10_study/training/engine.py"} <= closure
    assert not {m for m in closure if "/models/baseline.py" in m or "/analysis/" in m or "stage5" in m}
    deps = code_deps(closure)
    assert "src/cifar10_study/training" in deps and "src/cifar10_study/models/residual.py" in deps
    assert "src/cifar10_study/models" not in deps and "src/cifar10_study/experiments/__init__.py" not in deps
