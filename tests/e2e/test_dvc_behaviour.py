"""What DVC itself (3.x parsing of dvc.yaml) does with the forms the pipeline uses for Stages 4-5, and with
the forms it does not use and why, on tiny throwaway repositories (trivial `echo` / `mkdir` commands, no
git): foreach over the stage4.seeds dict, per-key params, and which stages a change to a Stage 5 switch
marks stale (`Repo.status()`, as `dvc status` / `dvc exp run -S` compare); a `matrix` replacing the four
stage5 groups (works only with positional `variant<N>` names and padded key lists); and why every seed is a
stage with a skipped.json stub: nothing in DVC expands a seed list chosen by `${profile}`.
tests/unit/test_wiring.py checks the project's own dvc.yaml; this file checks the DVC behaviour it relies on."""
from __future__ import annotations

import itertools
from contextlib import chdir
from pathlib import Path

import pytest
from ruamel.yaml import YAML

SEEDS = {"seed_0": ["full", "quick", "smoke"], "seed_1": ["full", "smoke"], "seed_2": ["full"]}
COMPONENTS = {"se": ("stage5.se", "stage5.se_reduction"), "mixup": ("stage5.mixup", "stage5.mixup_alpha"),
              "cutout": ("stage5.cutout", "stage5.cutout_size")}
STAGE5_KEYS = [key for keys in COMPONENTS.values() for key in keys]
GROUPS = ("stage5", *(f"stage5_no_{c}" for c in COMPONENTS))
COMMON = ["profile", "stage4.seeds.${key}", "stage4.train", "stage4.${profile}"]  # every seed stage's keys

PARAMS = f"""\
profile: quick
stage4:
  seeds:
{''.join(f"    {seed}: [{', '.join(profiles)}]" + chr(10) for seed, profiles in SEEDS.items())}\
  seeds_by_profile:   # what a profile-chosen seed list would need (the project does not have this key)
    full: [seed_0, seed_1, seed_2]
    quick: [seed_0]
    smoke: [seed_0, seed_1]
  train:
    epochs: 200
  full:
    train_on_validation: true
  quick:
    epochs: 2
  smoke:
    epochs: 1
stage5:
  se: true
  se_reduction: 16
  mixup: true
  mixup_alpha: 1.0
  cutout: true
  cutout_size: 16
"""


def declared(group: str) -> list[str]:
    """The Stage 5 keys a group reads: all six for the full model, all but its own two for an ablation."""
    off = group.removeprefix("stage5").removeprefix("_no_")
    return [key for c, keys in COMPONENTS.items() if c != off for key in keys]


def out_dir(group: str) -> str:
    return "runs/stage5" if group == "stage5" else f"runs/stage5_ablations/{group.removeprefix('stage5_')}"


def four_groups_yaml() -> str:
    """The project's form: one foreach group per configuration, each over ${stage4.seeds}."""
    text = "stages:\n"
    for group in GROUPS:
        out = f"{out_dir(group)}/${{key}}"
        text += (f"  {group}:\n    foreach: ${{stage4.seeds}}\n    do:\n"
                 f"      cmd: mkdir -p {out} && echo {group} > {out}/r.txt\n      params:\n"
                 + "".join(f"        - {k}\n" for k in COMMON + declared(group))
                 + f"      outs:\n        - {out}\n")
    return text


# The one `matrix` stage that replaces the four groups with per-key params: a list of dicts (so its stages are
# named by position, variant0..variant3) whose key lists are padded to one length with a key every stage
# declares anyway (a params entry cannot be a whole list; an index past a list's end fails).
MATRIX_YAML = """\
stages:
  stage5:
    matrix:
      seed: ${stage4.seeds}
      variant:
        - name: full
          out: runs/stage5
          keys: [stage5.se, stage5.se_reduction, stage5.mixup, stage5.mixup_alpha, stage5.cutout, stage5.cutout_size]
        - name: no_se
          out: runs/stage5_ablations/no_se
          keys: [stage5.mixup, stage5.mixup_alpha, stage5.cutout, stage5.cutout_size, profile, profile]
        - name: no_mixup
          out: runs/stage5_ablations/no_mixup
          keys: [stage5.se, stage5.se_reduction, stage5.cutout, stage5.cutout_size, profile, profile]
        - name: no_cutout
          out: runs/stage5_ablations/no_cutout
          keys: [stage5.se, stage5.se_reduction, stage5.mixup, stage5.mixup_alpha, profile, profile]
    cmd: mkdir -p ${item.variant.out}/${item.seed} && echo ${item.variant.name} > ${item.variant.out}/${item.seed}/r.txt
    params:
      - profile
      - stage4.seeds.${item.seed}
      - stage4.train
      - stage4.${profile}
      - ${item.variant.keys[0]}
      - ${item.variant.keys[1]}
      - ${item.variant.keys[2]}
      - ${item.variant.keys[3]}
      - ${item.variant.keys[4]}
      - ${item.variant.keys[5]}
    outs:
      - ${item.variant.out}/${item.seed}
"""
MATRIX_NAMES = {"full": "variant0", "no_se": "variant1", "no_mixup": "variant2", "no_cutout": "variant3"}


def make_repo(root: Path, dvc_yaml: str, params: str = PARAMS) -> Path:
    from dvc.repo import Repo

    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(params)
    (root / "dvc.yaml").write_text(dvc_yaml)
    Repo.init(str(root), no_scm=True).close()
    return root


def stages(root: Path) -> dict[str, dict]:
    """Each stage DVC generates: its declared params keys (in order, as given) and outs."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {s.name: {"params": [k for d in s.deps if isinstance(d, ParamsDependency) for k in d.params],
                         "outs": [Path(o.fs_path).relative_to(root).as_posix() for o in s.outs]}
                for s in repo.index.stages}


def load_error(root: Path) -> str:
    """The message DVC stops with while reading the pipeline (every `dvc` command would)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo, pytest.raises(Exception) as info:
        list(repo.index.stages)
    chain, exc = [], info.value
    while exc is not None:  # the schema error puts its detail in the cause
        chain.append(str(exc))
        exc = exc.__cause__
    return "\n".join(chain)


def reproduce(root: Path) -> None:
    from dvc.repo import Repo

    with chdir(root), Repo(str(root)) as repo:  # no targets: the dvc.yaml of the working directory
        repo.reproduce()


def stale(root: Path) -> set[str]:
    from dvc.repo import Repo

    with chdir(root), Repo(str(root)) as repo:  # stage names relative to the working directory
        return set(repo.status())


def set_param(root: Path, key: str, value) -> None:
    yaml = YAML()  # round trip, as `dvc exp run -S` rewrites the file
    path = root / "params.yaml"
    data = yaml.load(path.read_text())
    *parents, last = key.split(".")
    node = data
    for part in parents:
        node = node[part]
    assert last in node, key
    node[last] = value
    with path.open("w") as f:
        yaml.dump(data, f)


def flipped(value):
    return not value if isinstance(value, bool) else value * 2


STAGE5_VALUES = YAML(typ="safe").load(PARAMS)["stage5"]


@pytest.fixture()
def repo_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    return tmp_path / "repo"


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory) -> dict[str, Path]:
    """The four-group form and the matrix form, each reproduced once (seconds: trivial commands)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DVC_NO_ANALYTICS", "1")
    base = tmp_path_factory.mktemp("dvc_forms")
    roots = {"groups": make_repo(base / "groups", four_groups_yaml()),
             "matrix": make_repo(base / "matrix", MATRIX_YAML)}
    for root in roots.values():
        reproduce(root)
    yield roots
    mp.undo()


def stale_after(root: Path, key: str) -> set[str]:
    original = (root / "params.yaml").read_text()
    assert stale(root) == set(), "reproduced repository not up to date"
    set_param(root, key, flipped(STAGE5_VALUES[key.split(".")[1]]))
    try:
        return stale(root)
    finally:
        (root / "params.yaml").write_text(original)


# --- The project's form: four foreach groups over ${stage4.seeds} ---------------------------------------------


def test_foreach_over_the_seeds_dict_makes_one_stage_per_seed_with_its_own_keys(repo_dir):
    found = stages(make_repo(repo_dir, four_groups_yaml()))
    assert set(found) == {f"{g}@{s}" for g in GROUPS for s in SEEDS}
    for group, seed in itertools.product(GROUPS, SEEDS):
        stage = found[f"{group}@{seed}"]
        # ${key} is the seed's name; ${profile} picks the active profile's block as a params key
        assert stage["params"] == ["profile", f"stage4.seeds.{seed}", "stage4.train", "stage4.quick",
                                   *declared(group)]
        assert stage["outs"] == [f"{out_dir(group)}/{seed}"]


@pytest.mark.parametrize("key", STAGE5_KEYS)
def test_a_stage5_key_marks_stale_every_group_but_its_own_ablation(reproduced, key):
    owner = next(c for c, keys in COMPONENTS.items() if key in keys)
    expected = {f"{g}@{s}" for g in GROUPS if g != f"stage5_no_{owner}" for s in SEEDS}
    assert stale_after(reproduced["groups"], key) == expected


# --- One matrix stage instead of the four groups -------------------------------------------------------------


def test_matrix_over_the_seeds_dict_iterates_its_keys_and_names_scalars_by_value(repo_dir):
    found = stages(make_repo(repo_dir, """\
stages:
  stage5:
    matrix:
      seed: ${stage4.seeds}
      variant: [full, no_se]
    cmd: echo ${item.variant} ${item.seed}
    params:
      - stage4.seeds.${item.seed}
    outs:
      - runs/${item.variant}/${item.seed}
"""))
    assert set(found) == {f"stage5@{s}-{v}" for s in SEEDS for v in ("full", "no_se")}
    assert found["stage5@seed_1-no_se"] == {"params": ["stage4.seeds.seed_1"], "outs": ["runs/no_se/seed_1"]}


def test_matrix_of_variant_dicts_gives_per_key_params_under_positional_names(repo_dir):
    found = stages(make_repo(repo_dir, MATRIX_YAML))
    assert set(found) == {f"stage5@{s}-{n}" for s in SEEDS for n in MATRIX_NAMES.values()}
    for group, seed in itertools.product(GROUPS, SEEDS):
        variant = "full" if group == "stage5" else group.removeprefix("stage5_")
        stage = found[f"stage5@{seed}-{MATRIX_NAMES[variant]}"]
        # padding repeats `profile`: same set of keys as the group's
        assert set(stage["params"]) == {"profile", f"stage4.seeds.{seed}", "stage4.train", "stage4.quick",
                                        *declared(group)}
        assert stage["outs"] == [f"{out_dir(group)}/{seed}"]  # the project's run folders are kept


@pytest.mark.parametrize("key", ["stage5.cutout", "stage5.se_reduction"])
def test_matrix_form_marks_stale_the_same_configurations(reproduced, key):
    owner = next(c for c, keys in COMPONENTS.items() if key in keys)
    expected = {f"stage5@{s}-{n}" for s in SEEDS for v, n in MATRIX_NAMES.items() if v != f"no_{owner}"}
    assert stale_after(reproduced["matrix"], key) == expected


def test_a_duplicate_params_key_is_accepted_and_recorded_once(reproduced):
    lock = YAML(typ="safe").load((reproduced["matrix"] / "dvc.lock").read_text())
    recorded = lock["stages"]["stage5@seed_0-variant1"]["params"]["params.yaml"]
    assert sorted(recorded) == sorted(["profile", "stage4.seeds.seed_0", "stage4.train", "stage4.quick",
                                       "stage5.mixup", "stage5.mixup_alpha", "stage5.cutout", "stage5.cutout_size"])
    assert recorded["profile"] == "quick"


def matrix_with_params(params: str, keys_full: str = "[stage5.se, stage5.mixup]",
                       keys_no_se: str = "[stage5.mixup]") -> str:
    return f"""\
stages:
  stage5:
    matrix:
      seed: ${{stage4.seeds}}
      variant:
        - {{name: full, keys: {keys_full}}}
        - {{name: no_se, keys: {keys_no_se}}}
    cmd: echo ${{item.variant.name}} ${{item.seed}}
    params:
{params}
"""


@pytest.mark.parametrize("params", ["      - ${item.variant.keys}", "      - params.yaml: ${item.variant.keys}"],
                         ids=["entry", "file-mapping"])
def test_a_whole_list_cannot_be_interpolated_as_params(repo_dir, params):
    assert "Cannot interpolate data of type 'list'" in load_error(make_repo(repo_dir, matrix_with_params(params)))


def test_key_lists_of_different_lengths_fail_past_the_shorter_end(repo_dir):
    params = "      - ${item.variant.keys[0]}\n      - ${item.variant.keys[1]}"
    error = load_error(make_repo(repo_dir, matrix_with_params(params)))
    assert "stage5@seed_0-variant1.params" in error and "Could not find 'item.variant.keys[1]'" in error


def test_params_given_per_file_take_interpolated_entries(repo_dir):
    params = "      - params.yaml:\n          - stage4.seeds.${item.seed}\n          - ${item.variant.keys[0]}"
    found = stages(make_repo(repo_dir, matrix_with_params(params)))
    assert found["stage5@seed_2-variant1"]["params"] == ["stage4.seeds.seed_2", "stage5.mixup"]


def test_a_dict_as_matrix_values_gives_its_keys_only_and_cannot_be_looked_up(repo_dir, tmp_path):
    vars_ = "vars:\n  - variants:\n      full: {keys: [stage5.se]}\n      no_se: {keys: [stage5.mixup]}\n"
    body = ("stages:\n  stage5:\n    matrix:\n      seed: ${stage4.seeds}\n      variant: ${variants}\n"
            "    cmd: echo ${item.variant}\n")
    found = stages(make_repo(repo_dir, vars_ + body))
    assert set(found) == {f"stage5@{s}-{v}" for s in SEEDS for v in ("full", "no_se")}  # readable names ...
    assert found["stage5@seed_0-no_se"]["params"] == []
    # ... but item.variant is the name alone: the variant's keys would need a lookup by it, which DVC lacks
    error = load_error(make_repo(tmp_path / "nested", vars_ + body + "    params:\n"
                                 "      - ${variants.${item.variant}.keys[0]}\n"))
    assert "Could not find 'variants.${item.variant'" in error


def test_foreach_over_a_vars_dict_names_stages_by_its_keys_with_their_contents(repo_dir):
    found = stages(make_repo(repo_dir, """\
vars:
  - variants:
      full: {key: stage5.se, out: runs/stage5}
      no_se: {key: stage5.mixup, out: runs/stage5_ablations/no_se}
stages:
  stage5:
    foreach: ${variants}
    do:
      cmd: echo ${key}
      params:
        - ${item.key}
      outs:
        - ${item.out}
"""))
    # one stage per variant, no seed: foreach has a single axis, vars cannot read params.yaml's seeds
    assert found == {"stage5@full": {"params": ["stage5.se"], "outs": ["runs/stage5"]},
                     "stage5@no_se": {"params": ["stage5.mixup"], "outs": ["runs/stage5_ablations/no_se"]}}


# Stage 2's form: one matrix over two params dicts, the variants and their seeds (dvc.yaml's stage2).
VARIANT_PARAMS = """\
stage2:
  seeds:
    seed_0: [full, quick]
    seed_1: [full]
  variants:
    width_x2: {width: 2}
    depth_x2: {convs_per_stage: 2}
"""
VARIANT_MATRIX = """\
stages:
  stage2:
    matrix:
      variant: ${stage2.variants}
      seed: ${stage2.seeds}
    cmd: mkdir -p runs/${item.variant}/${item.seed} && echo ${item.variant} > runs/${item.variant}/${item.seed}/r.txt
    params: ["stage2.seeds.${item.seed}", "stage2.variants.${item.variant}"]
    outs:
      - runs/${item.variant}/${item.seed}
"""


def test_a_matrix_over_two_params_dicts_names_each_variant_seed_pair_by_their_keys(repo_dir):
    root = make_repo(repo_dir, VARIANT_MATRIX, VARIANT_PARAMS)
    found = stages(root)
    assert set(found) == {f"stage2@{v}-{s}" for v in ("width_x2", "depth_x2") for s in ("seed_0", "seed_1")}
    assert found["stage2@depth_x2-seed_1"] == {"params": ["stage2.seeds.seed_1", "stage2.variants.depth_x2"],
                                               "outs": ["runs/depth_x2/seed_1"]}
    reproduce(root)
    set_param(root, "stage2.variants.width_x2.width", 4)  # one variant's shape: its seeds only
    assert stale(root) == {"stage2@width_x2-seed_0", "stage2@width_x2-seed_1"}
    set_param(root, "stage2.variants.width_x2.width", 2)
    set_param(root, "stage2.seeds.seed_1", ["full", "quick"])  # one seed's profiles: its variants only
    assert stale(root) == {"stage2@width_x2-seed_1", "stage2@depth_x2-seed_1"}


def test_a_foreach_cannot_nest_a_matrix(repo_dir):
    error = load_error(make_repo(repo_dir, """\
stages:
  stage5:
    foreach: [full, no_se]
    do:
      matrix:
        seed: ${stage4.seeds}
      cmd: echo ${item}
"""))
    assert "stage5@full.matrix" in error and "Cannot interpolate data of type 'dict'" in error


def test_yaml_anchors_and_merge_keys_share_a_group_body(repo_dir):
    found = stages(make_repo(repo_dir, """\
stages:
  stage5:
    foreach: ${stage4.seeds}
    do: &stage5
      cmd: echo full ${key}
      deps:
        - params.yaml
      params:
        - stage4.seeds.${key}
        - stage5.se
      outs:
        - runs/stage5/${key}
  stage5_no_se:
    foreach: ${stage4.seeds}
    do:
      <<: *stage5
      cmd: echo no_se ${key}
      params:
        - stage4.seeds.${key}
      outs:
        - runs/stage5_ablations/no_se/${key}
"""))
    assert found["stage5@seed_1"] == {"params": ["stage4.seeds.seed_1", "stage5.se"], "outs": ["runs/stage5/seed_1"]}
    assert found["stage5_no_se@seed_1"] == {"params": ["stage4.seeds.seed_1"],
                                            "outs": ["runs/stage5_ablations/no_se/seed_1"]}


# --- Why every seed is a stage (skipped.json stubs): no seed list chosen by ${profile} ---------------------------


@pytest.mark.parametrize(("foreach", "message"), [
    ("${stage4.seeds_by_profile.${profile}}", "Could not find 'stage4.seeds_by_profile.${profile'"),
    ("${stage4.seeds_${profile}}", "Could not find 'stage4.seeds_${profile'"),
    ("${stage4.seeds_by_profile[${profile}]}", "Expected end of text, found '['"),
    ("stage4.seeds_by_profile.${profile}", "expected list/dictionary, got str"),
], ids=["nested-attribute", "nested-in-name", "nested-index", "plain-string"])
def test_a_seed_list_chosen_by_profile_cannot_be_expanded(repo_dir, foreach, message):
    error = load_error(make_repo(repo_dir, f"stages:\n  stage4:\n    foreach: {foreach}\n    do:\n"
                                 "      cmd: echo ${item}\n"))
    assert "stages.stage4.foreach" in error and message in error


def test_the_same_list_named_literally_expands(repo_dir):
    found = stages(make_repo(repo_dir, "stages:\n  stage4:\n    foreach: ${stage4.seeds_by_profile.smoke}\n"
                             "    do:\n      cmd: echo ${item}\n"))
    assert set(found) == {"stage4@seed_0", "stage4@seed_1"}


@pytest.mark.parametrize(("dvc_yaml", "message"), [
    ("vars:\n  - seeds_${profile}.yaml\nstages:\n  stage4:\n    foreach: ${seeds}\n    do:\n      cmd: echo ${item}\n",
     "failed to parse 'vars'"),
    ("stages:\n  stage4:\n    foreach: ${stage4.seeds}\n    do:\n      vars:\n        - ${profile}.yaml\n"
     "      cmd: echo ${key}\n", "stage4@seed_0.vars"),
], ids=["top-level-vars", "stage-vars"])
def test_vars_cannot_be_chosen_by_profile(repo_dir, dvc_yaml, message):
    error = load_error(make_repo(repo_dir, dvc_yaml))
    assert message in error and "interpolating is not allowed" in error


def test_a_matrix_has_no_filter(repo_dir):
    error = load_error(make_repo(repo_dir, "stages:\n  stage4:\n    matrix:\n      seed: ${stage4.seeds}\n"
                                 "    exclude:\n      - seed: seed_2\n    cmd: echo ${item.seed}\n"))
    assert "extra keys not allowed" in error and "exclude" in error


def test_a_stage_name_is_not_interpolated(repo_dir):
    assert set(stages(make_repo(repo_dir, "stages:\n  stage4_${profile}:\n    cmd: echo hi\n"))) == {
        "stage4_${profile}"}


def test_a_separate_seed_list_follows_edits_but_a_dropped_seed_leaves_its_lock_entry_and_run(repo_dir):
    """The DVC-native alternative to stubs, a second key listing the active seeds: the stage set follows it
    (in a plain `dvc repro`; `dvc exp run -S` too, checked by hand), but it is not derived from `profile`, and
    a seed taken out keeps its run folder and dvc.lock entry, which a stage reading runs/stage4 would still see."""
    params = PARAMS.replace("  seeds_by_profile:", "  active_seeds:\n  - seed_0\n  - seed_1\n  seeds_by_profile:")
    root = make_repo(repo_dir, "stages:\n  stage4:\n    foreach: ${stage4.active_seeds}\n    do:\n"
                     "      cmd: mkdir -p runs/stage4/${item} && echo ${item} > runs/stage4/${item}/r.txt\n"
                     "      params:\n        - stage4.seeds.${item}\n      outs:\n        - runs/stage4/${item}\n",
                     params)
    reproduce(root)
    assert set(stages(root)) == {"stage4@seed_0", "stage4@seed_1"}
    set_param(root, "stage4.active_seeds", ["seed_0"])
    assert set(stages(root)) == {"stage4@seed_0"}
    assert stale(root) == set()
    reproduce(root)
    assert (root / "runs/stage4/seed_1/r.txt").exists()
    assert "stage4@seed_1" in YAML(typ="safe").load((root / "dvc.lock").read_text())["stages"]
