"""Seeds (core/seeds.py): each Stage 1-5 configuration trains once per seed of a `seeds` mapping (seed_<n> -> the
profiles that train it), one DVC stage per seed. The mapping's validation; a seed stage the active profile leaves
out, skipped from params.yaml alone (its skipped.json, no torch); the training stages a profile runs
(experiments/stage_list.py) on the real dvc.yaml; and the seeds the shipped params.yaml trains."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML

from cifar10_study.components.stage3_components import STAGE3_COMPONENTS
from cifar10_study.components.stage5_components import STAGE5_COMPONENTS
from cifar10_study.core.errors import ConfigError
from cifar10_study.core.layout import SKIP_MARKER, seeds_trained
from cifar10_study.core.seeds import Seeds, skip_untrained_seed
from cifar10_study.experiments.stage_list import training_stages
from cifar10_study.params import parse_params
from helpers import ROOT

PROFILES = ("full", "preview", "quick", "smoke")
RAW = YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())
SEEDS = TypeAdapter(Seeds)


def raw_params(profile: str | None = None, **entries: list[str]) -> dict:
    """params.yaml as shipped, at `profile`, with seed entries set: `stage2__seeds__seed_1=["full"]`."""
    raw = copy.deepcopy(RAW)
    if profile is not None:
        raw["profile"] = profile
    for dotted, profiles in entries.items():
        *parents, last = dotted.split("__")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = profiles
    return raw


# --- the Seeds type -------------------------------------------------------------------------------------------

def test_a_valid_mapping_is_kept_as_written():
    seeds = {"seed_0": ["full", "preview", "quick", "smoke"], "seed_7": ["full"], "seed_12": ["smoke", "full"]}
    assert SEEDS.validate_python(seeds) == seeds


@pytest.mark.parametrize("seeds,message", [
    ({"seed_0": list(PROFILES), "seed_1": ["full", "full"]}, "seed_1: each profile once, got ['full', 'full']"),
    ({"seed_0": ["quick", "full", "preview", "smoke", "quick"]},
     "seed_0: each profile once, got ['quick', 'full', 'preview', 'smoke', 'quick']"),
    ({"seed_0": ["full", "preview", "smoke"]}, "no seed trains at the quick profile; list it under a seed"),
    ({"seed_0": ["full"], "seed_1": ["preview"]}, "no seed trains at the quick, smoke profile; list it under a seed"),
    ({"seed_0": list(PROFILES), "zero": ["full"]}, "String should match pattern '^seed_[0-9]+$'"),
    ({"seed_0": list(PROFILES), "seed_1": []}, "List should have at least 1 item"),
    ({"seed_0": list(PROFILES), "seed_1": ["fast"]}, "Input should be 'full', 'preview', 'quick' or 'smoke'"),
    ({}, "Dictionary should have at least 1 item"),
])
def test_an_invalid_mapping_says_what_is_wrong(seeds, message):
    with pytest.raises(ValidationError) as err:
        SEEDS.validate_python(seeds)
    assert message in str(err.value)


def test_seeds_trained_lists_a_profiles_seeds_in_ascending_order():
    seeds = {"seed_10": ["full", "quick"], "seed_2": ["full"], "seed_0": ["full", "smoke"]}
    assert seeds_trained(seeds, "full") == [0, 2, 10]  # by number, not as strings
    assert seeds_trained(seeds, "quick") == [10] and seeds_trained(seeds, "preview") == []


def test_every_seeded_section_reads_its_seeds_from_params_yaml():
    """Stage 1, Stage 3 and Stage 4 (SeededSection) answer seeds_for(profile) from their own mapping; Stage 1's
    experiments, Stage 2 and Stage 3's ablations hold theirs validated as Seeds."""
    params = parse_params(raw_params(stage1__seeds__seed_5=["quick"], stage3__seeds__seed_4=["full", "smoke"]))
    assert params.stage1.seeds_for("quick") == [*seeds_trained(RAW["stage1"]["seeds"], "quick"), 5]
    assert params.stage3.seeds_for("smoke") == [*seeds_trained(RAW["stage3"]["seeds"], "smoke"), 4]
    assert params.stage4.seeds_for("full") == seeds_trained(RAW["stage4"]["seeds"], "full")
    assert params.stage1_experiments.seeds == RAW["stage1_experiments"]["seeds"]
    assert params.stage2.seeds == RAW["stage2"]["seeds"]
    assert params.stage3.ablation_seeds == RAW["stage3"]["ablation_seeds"]


def test_seeded_sets_the_seed_of_the_stage_and_nothing_else():
    from cifar10_study.training.recipe import seeded

    train = parse_params(raw_params()).stage1.train_for("quick")
    for name, number in [("seed_0", 0), ("seed_3", 3), ("seed_12", 12)]:
        got = seeded(train, name)
        assert got.seed == number
        assert got.model_dump(exclude={"seed"}) == train.model_dump(exclude={"seed"})
    assert train.seed == 0  # the recipe itself is left as it was


# --- the shipped params.yaml ----------------------------------------------------------------------------------

# Every Stage 1-3 configuration's seeds: the baseline, its experiments, the Stage 2 variants, the Stage 3 full
# model and its ablations.
STAGE13_SEEDS = [("stage1", "seeds"), ("stage1_experiments", "seeds"), ("stage2", "seeds"), ("stage3", "seeds"),
                 ("stage3", "ablation_seeds")]


@pytest.mark.parametrize("section,key", STAGE13_SEEDS, ids=[f"{s}.{k}" for s, k in STAGE13_SEEDS])
def test_the_full_profile_trains_at_least_three_seeds_of_every_stage_1_to_3_configuration(section, key):
    """Three seeds or more wherever results are read as the study's: a spread needs at least three."""
    assert len(seeds_trained(RAW[section][key], "full")) >= 3


@pytest.mark.parametrize("profile", ["quick", "preview"])
def test_the_references_train_three_seeds_at_quick_and_preview(profile):
    """The Stage 1 baseline and the Stage 3 full model are the references of every Stage 1-3 comparison: their
    seeds are the seed-noise floor, measured with at least three seeds at the profiles a result is read at."""
    params = parse_params(raw_params(profile))
    assert len(params.stage1.seeds_for(profile)) >= 3
    assert len(params.stage3.seeds_for(profile)) >= 3


def test_the_smoke_profile_trains_two_seeds_of_each_reference():
    """So the tests exercise the across-seed statistics at smoke, in about a minute."""
    params = parse_params(raw_params("smoke"))
    assert len(params.stage1.seeds_for("smoke")) == len(params.stage3.seeds_for("smoke")) == 2


# --- skip_untrained_seed --------------------------------------------------------------------------------------

@pytest.fixture
def in_repo(tmp_path, monkeypatch):
    """A working directory holding params.yaml at a chosen profile (skip_untrained_seed reads ./params.yaml and
    writes under ./runs, as a DVC stage run from the repository root does)."""
    monkeypatch.chdir(tmp_path)

    def write(profile: str, **entries: list[str]) -> Path:
        YAML().dump(raw_params(profile, **entries), tmp_path / "params.yaml")
        return tmp_path
    return write


def test_an_untrained_seed_writes_skipped_json_saying_why_and_nothing_else(in_repo, capsys):
    root = in_repo("smoke")
    assert skip_untrained_seed("stage1.seeds", "seed_2", "stage1/seed_2") is True
    folder = root / "runs/stage1/seed_2"
    assert [p.name for p in folder.iterdir()] == [SKIP_MARKER]
    assert json.loads((folder / SKIP_MARKER).read_text()) == {
        "seed": 2, "profile": "smoke", "reason": "seed_2 trains at the full, preview, quick profile(s), not at smoke"}
    assert capsys.readouterr().out == (
        "stage1/seed_2: skipped: seed_2 trains at the full, preview, quick profile(s), not at smoke\n")
    assert sorted(p.relative_to(root).as_posix() for p in (root / "runs").rglob("*")) == [
        "runs/stage1", "runs/stage1/seed_2", f"runs/stage1/seed_2/{SKIP_MARKER}"]


def test_a_trained_seed_is_not_skipped_and_nothing_is_written(in_repo, capsys):
    root = in_repo("smoke")
    assert skip_untrained_seed("stage1.seeds", "seed_1", "stage1/seed_1") is False
    assert skip_untrained_seed("stage3.ablation_seeds", "seed_0", "stage3_ablations/no_dropout/seed_0") is False
    assert not (root / "runs").exists() and capsys.readouterr().out == ""


def test_the_seed_entry_is_read_at_the_key_given_and_the_profile_from_params_yaml(in_repo):
    """The full model's seeds and the ablations' are separate mappings under one section (stage3.seeds,
    stage3.ablation_seeds), and the active profile is params.yaml's as it is now."""
    root = in_repo("quick")
    assert skip_untrained_seed("stage3.seeds", "seed_1", "stage3/seed_1") is False  # quick is in stage3.seeds
    assert skip_untrained_seed("stage3.ablation_seeds", "seed_1", "stage3_ablations/no_residual/seed_1") is True
    assert json.loads((root / "runs/stage3_ablations/no_residual/seed_1" / SKIP_MARKER).read_text())["reason"] == \
        "seed_1 trains at the full profile(s), not at quick"
    in_repo("quick", stage3__ablation_seeds__seed_2=["full", "quick"])
    assert skip_untrained_seed("stage3.ablation_seeds", "seed_2", "stage3_ablations/no_residual/seed_2") is False
    in_repo("full")
    assert skip_untrained_seed("stage2.seeds", "seed_2", "stage2/width_x2/seed_2") is False


def test_an_unknown_seed_is_a_one_line_config_error_and_writes_nothing(in_repo):
    root = in_repo("quick")
    with pytest.raises(ConfigError) as err:
        skip_untrained_seed("stage2.seeds", "seed_9", "stage2/width_x2/seed_9")
    assert str(err.value) == "unknown seed 'seed_9'; stage2.seeds has seed_0, seed_1, seed_2"
    with pytest.raises(ConfigError, match="^unknown seed 'seed_3'; stage3.ablation_seeds has seed_0, seed_1, seed_2$"):
        skip_untrained_seed("stage3.ablation_seeds", "seed_3", "stage3_ablations/no_dropout/seed_3")
    assert not (root / "runs").exists()


SKIPPED = [  # (profile, the stage's command-line arguments, its run folder), each a seed the profile leaves out
    ("smoke", ["stage1.py", "seed_2"], "runs/stage1/seed_2"),
    ("quick", ["stage1_experiments.py", "seed_1"], "runs/stage1_experiments/seed_1"),
    ("quick", ["stage2.py", "depth_x2", "seed_2"], "runs/stage2/depth_x2/seed_2"),
    ("smoke", ["stage3.py", "seed_2"], "runs/stage3/seed_2"),
    ("quick", ["stage3.py", "seed_1", "no_batchnorm"], "runs/stage3_ablations/no_batchnorm/seed_1"),
    ("quick", ["stage4.py", "seed_2"], "runs/stage4/seed_2"),
    ("quick", ["stage5.py", "seed_1", "no_cutout"], "runs/stage5_ablations/no_cutout/seed_1"),
]

# Runs a stage script as DVC does (its __main__), then prints the torch modules that it loaded.
RUN_SCRIPT = """
import json, runpy, sys
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "torch")))
"""


@pytest.mark.parametrize("profile,args,folder", SKIPPED, ids=[" ".join(a) for _, a, _ in SKIPPED])
def test_a_skipped_seed_stage_writes_its_marker_in_its_dvc_output_without_importing_torch(
        in_repo, profile, args, folder):
    """The seed stage DVC runs for a seed the profile leaves out writes only skipped.json, into the folder
    dvc.yaml declares as its output (tests/unit/test_wiring.py), in a fraction of a second: no torch."""
    root = in_repo(profile)
    result = subprocess.run([sys.executable, "-c", RUN_SCRIPT, str(ROOT / "stages" / args[0]), *args[1:]], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    [seed] = [a for a in args if a.startswith("seed_")]
    assert out[0].startswith(f"{folder.removeprefix('runs/')}: skipped: {seed} trains at the ")
    assert out[0].endswith(f" profile(s), not at {profile}") and len(out) == 2
    assert json.loads(out[-1]) == [], "a skipped seed stage imported torch"
    assert [p.relative_to(root).as_posix() for p in (root / "runs").rglob("*") if p.is_file()] == \
        [f"{folder}/{SKIP_MARKER}"]
    assert json.loads((root / folder / SKIP_MARKER).read_text())["profile"] == profile


def test_a_seed_stage_given_an_unknown_seed_stops_with_one_line(in_repo):
    root = in_repo("quick")
    result = subprocess.run([sys.executable, str(ROOT / "stages/stage1.py"), "seed_5"], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr == "error: unknown seed 'seed_5'; stage1.seeds has seed_0, seed_1, seed_2\n"
    assert not (root / "runs").exists()


# --- stage_list.training_stages on the real dvc.yaml ----------------------------------------------------------

def seeded(*groups: str, seeds: list[int]) -> set[str]:
    return {f"{group}@seed_{seed}" for group in groups for seed in seeds}


STAGE3_ABLATIONS = tuple(f"stage3_{c.ablation}" for c in STAGE3_COMPONENTS)
STAGE5_GROUPS = ("stage5", *(f"stage5_{c.ablation}" for c in STAGE5_COMPONENTS))
STRESS = {"stage2_vanishing", "stage2_explosion"}


def expected_stages(raw: dict) -> set[str]:
    """The training stages `raw` trains at its profile, from the seed mappings themselves."""
    profile = raw["profile"]

    def trained(section: str, key: str = "seeds") -> list[int]:
        return seeds_trained(raw[section][key], profile)

    return (seeded("stage1", seeds=trained("stage1"))
            | seeded("stage1_experiments", seeds=trained("stage1_experiments"))
            | {f"stage2@{v}-seed_{s}" for v in raw["stage2"]["variants"] for s in trained("stage2")} | STRESS
            | seeded("stage3", seeds=trained("stage3"))
            | seeded(*STAGE3_ABLATIONS, seeds=trained("stage3", "ablation_seeds"))
            | seeded("stage4", *STAGE5_GROUPS, seeds=trained("stage4")))


@pytest.mark.parametrize("profile", PROFILES)
def test_the_training_stages_of_each_profile_are_its_seeds_stages(profile):
    names = training_stages(raw_params(profile), ROOT)
    assert len(names) == len(set(names))
    assert set(names) == expected_stages(raw_params(profile))
    if profile == "full":  # every seed of every configuration
        assert seeded("stage1", "stage3", *STAGE3_ABLATIONS, seeds=[0, 1, 2]) <= set(names)


def test_the_quick_profile_trains_three_seeds_of_each_reference_and_seed_0_of_everything_else():
    names = training_stages(raw_params("quick"), ROOT)
    assert set(names) == (seeded("stage1", "stage3", seeds=[0, 1, 2])
                          | seeded("stage1_experiments", *STAGE3_ABLATIONS, "stage4", *STAGE5_GROUPS, seeds=[0])
                          | {"stage2@width_x2-seed_0", "stage2@depth_x2-seed_0"} | STRESS)
    # dvc.yaml's order: the round-robin shares (stage_list.share) mix cheap and expensive stages by it.
    assert names[:4] == ["stage1@seed_0", "stage1@seed_1", "stage1@seed_2", "stage1_experiments@seed_0"]
    assert names.index("stage3@seed_2") < names.index("stage3_no_residual@seed_0") < names.index("stage4@seed_0")


def test_the_smoke_profile_trains_two_seeds_of_stage1_and_stage3_and_seed_0_of_the_rest():
    """Two seeds of the references run the statistics across seeds in the end-to-end tests; one of everything
    else keeps the smoke pipeline (and the Slurm array over it) short."""
    names = set(training_stages(raw_params("smoke"), ROOT))
    assert {n for n in names if n.startswith(("stage1@", "stage3@"))} == seeded("stage1", "stage3", seeds=[0, 1])
    others = (*STAGE3_ABLATIONS, "stage4", *STAGE5_GROUPS)
    assert seeded(*others, seeds=[0]) <= names and not seeded(*others, seeds=[1, 2]) & names
    assert "stage1@seed_2" not in names and "stage2@width_x2-seed_0" in names


def test_the_stages_follow_the_params_given_seed_by_seed_and_mapping_by_mapping():
    """The params passed decide (not params.yaml on disk), each stage by its own seed entry: the full model's
    seed_2 and the ablations' seed_2 are different entries, and a variant's seed adds that seed's stage of every
    variant."""
    raw = raw_params("quick", stage3__seeds__seed_2=["full"], stage3__ablation_seeds__seed_2=["full", "quick"],
                     stage2__seeds__seed_1=["full", "quick"])
    names = set(training_stages(raw, ROOT))
    assert names == expected_stages(raw)
    assert "stage3@seed_2" not in names and seeded(*STAGE3_ABLATIONS, seeds=[2]) <= names
    assert {"stage2@width_x2-seed_1", "stage2@depth_x2-seed_1"} <= names
    assert names - expected_stages(raw_params("quick")) == (seeded(*STAGE3_ABLATIONS, seeds=[2])
                                                          | {"stage2@width_x2-seed_1", "stage2@depth_x2-seed_1"})
