"""params.yaml validation: the shipped file is valid; every kind of bad value is one line naming the key."""
import copy

import pytest
from ruamel.yaml import YAML

from cifar10_study.core.errors import ConfigError
from cifar10_study.experiments import stage3, stage4, stage5
from cifar10_study.experiments.stage2 import variant_model
from cifar10_study.params import Params, load_params, parse_params
from helpers import ROOT


@pytest.fixture(scope="module")
def raw() -> dict:
    return YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())


def test_shipped_params_are_valid_and_profiles_resolve(raw):
    params = parse_params(raw)
    assert isinstance(params, Params)
    full, quick, smoke = (params.stage1.train_for(p) for p in ("full", "quick", "smoke"))
    assert full == params.stage1.train
    assert quick.epochs < full.epochs and quick.train_subset is None  # every training image, fewer epochs
    assert all(stress.train_for("quick").train_subset is None  # the stress tests too
               for stress in (params.stage2_vanishing, params.stage2_explosion))
    assert smoke.epochs <= quick.epochs
    # Overrides touch only what they name.
    assert quick.optimizer == full.optimizer and quick.batch_size == full.batch_size


@pytest.mark.parametrize("profile", ["quick", "preview"])
def test_the_budgets_of_stages_1_to_3_are_equal(raw, profile):
    """Like-for-like: Stage 1 (and its experiments and Stage 2's variants, which train with its recipe) and
    Stage 3 (and its ablations) train the same epochs on the same training images, validated on the same
    images, in the quick and preview profiles."""
    params = parse_params({**raw, "profile": profile})
    recipes = {"stage1": params.stage1.train_for(profile), "stage3": stage3.recipe(params, stage3.switches(params))}
    budgets = {stage: (r.epochs, r.train_subset, r.val_subset, r.train_on_validation) for stage, r in recipes.items()}
    assert len(set(budgets.values())) == 1, budgets
    assert budgets["stage1"][0] > 1 and budgets["stage1"][1] is None  # every training image


def test_the_preview_profile_trains_every_stage_on_every_training_image_for_fewer_epochs(raw):
    params = parse_params({**raw, "profile": "preview"})
    for section in ("stage1", "stage2_vanishing", "stage2_explosion", "stage3", "stage4"):
        block = raw[section]["preview"]
        assert not {"train_subset", "val_subset", "test_subset"} & set(block), section  # every image
        assert 0 < block["epochs"] < (raw[section].get("train") or raw["stage1"]["train"])["epochs"], section
    resnet = stage4.recipe(params)
    assert resnet.train_on_validation and resnet.train_subset is None  # all 50,000, as in full
    assert stage5.recipe(params, stage5.switches(params)).epochs == resnet.epochs
    assert resnet.optimizer == stage4.recipe(parse_params({**raw, "profile": "full"})).optimizer  # the recipe, shorter


def test_stages_4_and_5_train_on_all_50000_images_in_the_gpu_profiles_only(raw):
    full = parse_params({**raw, "profile": "full"})
    recipe = stage4.recipe(full)
    assert recipe.train_on_validation and recipe.train_subset is None and recipe.epochs == 200
    assert stage5.recipe(full, stage5.switches(full)).train_on_validation  # Stage 5 follows Stage 4's recipe
    for profile in ("quick", "smoke"):  # the CPU profiles keep their held-out curves
        assert not stage4.recipe(parse_params({**raw, "profile": profile})).train_on_validation
    for stage in ("stage1", "stage3"):  # stages that show validation curves keep the split in full (Stage 2: Stage 1's)
        assert "train_on_validation" not in raw[stage]["full"]


def _set(raw: dict, dotted: str, value):
    out = copy.deepcopy(raw)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return out


_DELETE = object()

BAD = [
    ("profile", "huge", "profile: Input should be 'full', 'preview', 'quick' or 'smoke'"),
    ("typo_section", {}, "typo_section: unknown key"),
    ("stage1.train.epochs", 0, "stage1.train.epochs: Input should be greater than 0 (got 0)"),
    ("stage1.train.epochs", -3, "stage1.train.epochs: Input should be greater than 0"),
    ("stage1.train.epochs", "ten", "stage1.train.epochs: Input should be a valid integer"),
    ("stage1.train.epochs", 2.5, "stage1.train.epochs: Input should be a valid integer"),
    ("stage1.train.batch_size", 0, "stage1.train.batch_size: Input should be greater than 0"),
    ("stage1.train.optimizer.lr", -0.1, "stage1.train.optimizer.lr: Input should be greater than 0 (got -0.1)"),
    ("stage1.train.optimizer.lr", "fast", "stage1.train.optimizer.lr: Input should be a valid number"),
    ("stage1.train.optimizer.name", "lion", "stage1.train.optimizer.name: Input should be 'sgd', 'adam' or 'adamw'"),
    ("stage1.train.optimizer.momentum", 1.5, "stage1.train.optimizer.momentum: Input should be less than 1"),
    ("stage1.train.optimizer.weight_decay", -1e-4,
     "stage1.train.optimizer.weight_decay: Input should be greater than or equal to 0"),
    ("stage1.train.schedule.name", "linear",
     "stage1.train.schedule.name: Input should be 'constant', 'cosine', 'onecycle' or 'step'"),
    ("stage1.train.label_smoothing", 1.0, "stage1.train.label_smoothing: Input should be less than 1"),
    ("stage1.train.label_smoothing", -0.1, "stage1.train.label_smoothing: Input should be greater than or equal to 0"),
    ("stage1.train.augment.flip", "yes", "stage1.train.augment.flip: Input should be a valid boolean"),
    ("stage1.train.augment.crop_padding", -4,
     "stage1.train.augment.crop_padding: Input should be greater than or equal to 0"),
    ("stage1.train.augment.rotate", 10, "stage1.train.augment.rotate: unknown key"),
    ("stage1.train.train_subset", 0, "stage1.train.train_subset: Input should be greater than 0"),
    ("stage1.train.lr", 0.1, "stage1.train.lr: unknown key"),
    ("stage1.train.epochs", _DELETE, "stage1.train.epochs: required key is missing"),
    ("stage1.model.name", "resnet1000", "stage1.model.name: Input should be 'baseline_cnn'"),
    ("stage1.model.channels", [], "stage1.model.channels: List should have at least 1 item"),
    ("stage1.model.channels", [32, 64, 128, 128, 128, 128], "stage1.model.channels: List should have at most 5 items"),
    ("stage1.model.channels", [32, 0, 64], "stage1.model.channels.1: Input should be greater than 0"),
    ("stage1.model.activation", "gelu", "stage1.model.activation: Input should be 'relu' or 'identity'"),
    ("stage1.quick", {"epoch": 3}, "stage1.quick: unknown train key(s) ['epoch']"),
    ("stage1.smoke", {"epochs": 0}, "smoke override gives an invalid recipe: epochs: Input should be greater than 0"),
    ("stage1_experiments.bottleneck_widths", [],
     "stage1_experiments.bottleneck_widths: List should have at least 1 item"),
    ("stage1_experiments.bottleneck_stage", 7, "bottleneck_stage must index stage1.model.channels (0..2), got 7"),
    ("data.val_size", 0, "data.val_size: Input should be greater than 0"),
    ("data.source", 42, "data.source: Input should be a valid string"),
    ("data", "somewhere", "data: Input should be a valid dictionary"),
    ("stage2.variants", {}, "stage2.variants: Dictionary should have at least 1 item"),
    ("stage2.variants", {"Wide X2!": {"width": 2}}, "stage2.variants.Wide X2!.[key]: String should match pattern"),
    ("stage2.variants", {"wide": {"width": 0}}, "stage2.variants.wide.width: Input should be greater than 0"),
    ("stage2.variants", {"wide": {"height": 2}}, "stage2.variants.wide.height: unknown key"),
    ("stage2.loss_window", 1, "stage2.loss_window: Input should be greater than or equal to 2"),
    ("stage2.variants", {"wide": {"width": 2}, "plain": {"width": 1}},
     "stage2.variants.plain: width 1 and convs_per_stage 1 give stage1.model, the baseline, which is the Stage 1 run"),
    ("stage2.variants", {"baseline": {"width": 2}}, "stage2.variants.baseline: the baseline is the Stage 1 run"),
    ("stage2.smoke", {"epochs": 1}, "stage2.smoke: unknown key"),  # Stage 2 trains with Stage 1's budget
    ("stage2_vanishing.depths", [20, 31], "depths [31] must be multiples of len(channels) = 2"),
    ("stage2_vanishing.grad_steps", [-1], "stage2_vanishing.grad_steps.0: Input should be greater than or equal to 0"),
    ("stage2.learned_accuracy", 1.5, "stage2.learned_accuracy: Input should be less than 1"),
    ("stage2.learned_accuracy", 0.05, "stage2.learned_accuracy: Input should be greater than 0.1"),
    ("stage2_explosion.widths", [], "stage2_explosion.widths: List should have at least 1 item"),
    ("stage2_explosion.measure_max_gflops", 0, "stage2_explosion.measure_max_gflops: Input should be greater than 0"),
    ("stage2_explosion.train_budget_tflop", {"full": 10.0, "preview": 4.0, "quick": 5.0},
     "stage2_explosion.train_budget_tflop.smoke: required key is missing"),
    ("stage2_explosion.train.schedule.name", "warmup", "stage2_explosion.train.schedule.name: Input should be"),
    ("stage4.seeds.seed_1", [], "stage4.seeds.seed_1: List should have at least 1 item"),
    ("stage4.seeds.seed_1", ["full", "full"], "stage4.seeds: seed_1: each profile once, got ['full', 'full']"),
    ("stage4.seeds.seed_1", ["fast"], "stage4.seeds.seed_1.0: Input should be 'full', 'preview', 'quick' or 'smoke'"),
    ("stage4.seeds", {"seed_0": ["full", "preview", "smoke"]},
     "stage4.seeds: no seed trains at the quick profile; list it under a seed"),
    ("stage4.seeds", {"zero": ["full", "quick", "smoke"]}, "stage4.seeds.zero.[key]: String should match pattern"),
    ("stage4.seeds", [0, 1], "stage4.seeds: Input should be a valid dictionary"),
    ("stage4.train.seed", 3, "stage4: the seeds come from `seeds`; do not set seed in train or a profile block"),
    ("stage4.quick", {"epochs": 1, "seed": 2}, "stage4: the seeds come from `seeds`"),
    # Every Stage 1-3 configuration takes its seeds from a `seeds` mapping, validated as stage4.seeds is.
    ("stage1.seeds", {"seed_0": ["full", "quick", "smoke"]},
     "stage1.seeds: no seed trains at the preview profile; list it under a seed"),
    ("stage1.seeds", {"seed_0": ["full"], "seed_1": ["preview", "quick"]},
     "stage1.seeds: no seed trains at the smoke profile"),
    ("stage1.seeds", _DELETE, "stage1.seeds: required key is missing"),
    ("stage1.train.seed", 3, "stage1: the seeds come from `seeds`; do not set seed in train or a profile block"),
    ("stage1.quick", {"epochs": 5, "seed": 1}, "stage1: the seeds come from `seeds`"),
    ("stage1_experiments.seeds", {}, "stage1_experiments.seeds: Dictionary should have at least 1 item"),
    ("stage1_experiments.seeds", _DELETE, "stage1_experiments.seeds: required key is missing"),
    ("stage2.seeds.seed_0", ["quick", "full", "quick", "preview", "smoke"],
     "stage2.seeds: seed_0: each profile once, got ['quick', 'full', 'quick', 'preview', 'smoke']"),
    ("stage2.seeds.seed_1", [], "stage2.seeds.seed_1: List should have at least 1 item"),
    ("stage3.seeds.seed_x", ["full"], "stage3.seeds.seed_x.[key]: String should match pattern"),
    ("stage3.ablation_seeds", {"seed_0": ["full", "preview", "quick"]},
     "stage3.ablation_seeds: no seed trains at the smoke profile; list it under a seed"),
    ("stage3.ablation_seeds", _DELETE, "stage3.ablation_seeds: required key is missing"),
    ("stage3.train.seed", 1, "stage3: the seeds come from `seeds`; do not set seed in train or a profile block"),
    ("stage3.smoke", {"epochs": 2, "seed": 1}, "stage3: the seeds come from `seeds`"),
    ("stage4.train.augment.cutout", 40, "stage4.train.augment.cutout: Input should be less than or equal to 32"),
    ("stage4.train.mixup_alpha", -1, "stage4.train.mixup_alpha: Input should be greater than or equal to 0"),
    ("stage4.train.compile", "default", "stage4.train.compile: unknown key"),  # runtime.compile, not recipe
    ("runtime.compile", True, "runtime.compile: Input should be 'off', 'default', 'reduce-overhead'"),
    ("runtime.device", "tpu", "runtime.device: Input should be 'auto', 'cpu', 'cuda' or 'mps'"),
    ("runtime.checkpoint_interval_seconds", -1,
     "runtime.checkpoint_interval_seconds: Input should be greater than or equal to 0"),
    ("runtime.eval_batch_size", 0, "runtime.eval_batch_size: Input should be greater than 0"),
    ("runtime.workers", 4, "runtime.workers: unknown key"),
    ("stage4.smoke", {"test_subset": 0},
     "stage4: smoke override gives an invalid recipe: test_subset: Input should be greater than 0"),
    ("stage5.cutout_size", 33, "stage5.cutout_size: Input should be less than or equal to 32 (got 33)"),
    ("stage5.cutout_size", 0, "stage5.cutout_size: Input should be greater than or equal to 1"),
    ("stage5.mixup_alpha", 0, "stage5.mixup_alpha: Input should be greater than 0 (got 0)"),
    ("stage5.se_reduction", 0, "stage5.se_reduction: Input should be greater than 0"),
    ("stage5.cutout", "sometimes", "stage5.cutout: Input should be a valid boolean"),
    ("stage5.se", _DELETE, "stage5.se: required key is missing"),
    ("stage5.dropout", 0.1, "stage5.dropout: unknown key"),
]


# ids the same in every process (pytest-xdist's workers compare their collections): no object addresses
@pytest.mark.parametrize("key,value,message", BAD,
                         ids=[f"{k}={'(deleted)' if v is _DELETE else repr(v)}"[:60] for k, v, _ in BAD])
def test_bad_value_is_one_line_naming_the_key(raw, key, value, message):
    with pytest.raises(ConfigError) as err:
        parse_params(_set(raw, key, value))
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("params.yaml: ")
    assert message in text


def test_a_variant_is_the_baseline_when_it_gives_stage1s_model_whatever_its_depth(raw):
    deeper_baseline = _set(raw, "stage1.model.convs_per_stage", 2)
    with pytest.raises(ConfigError, match="stage2.variants.same: width 1 and convs_per_stage 2 give stage1.model"):
        parse_params(_set(deeper_baseline, "stage2.variants", {"same": {"convs_per_stage": 2}}))
    with pytest.raises(ConfigError, match="stage2.variants.same: width 1 and convs_per_stage 2 give stage1.model"):
        parse_params(_set(deeper_baseline, "stage2.variants", {"same": {"width": 1}}))  # depth left: the baseline's
    # Against a baseline of 2 conv layers per stage, 1 conv layer is a shallower variant, and width 2 alone
    # keeps the baseline's depth.
    variants = {"shallow": {"convs_per_stage": 1}, "wide": {"width": 2}}
    params = parse_params(_set(deeper_baseline, "stage2.variants", variants))
    assert [variant_model(params.stage1.model, params.stage2.variants[v]).convs_per_stage for v in variants] == [1, 2]


def test_a_rule_across_keys_is_one_short_line_without_the_params_it_read(raw):
    with pytest.raises(ConfigError) as err:
        parse_params(_set(raw, "stage2.variants", {"same": {"width": 1}}))
    text = str(err.value)
    assert "\n" not in text and len(text) < 300, text
    assert "stage2.variants.same: width 1" in text and "stage1_experiments" not in text


def test_the_params_module_validates_params_yaml_as_a_command(tmp_path):
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "cifar10_study.params"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("params.yaml: valid"), ok.stdout + ok.stderr
    broken = tmp_path / "params.yaml"
    broken.write_text((ROOT / "params.yaml").read_text().replace("profile: quick", "profile: quik", 1))
    bad = subprocess.run([sys.executable, "-m", "cifar10_study.params", str(broken)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith(f"error: {broken}: profile: Input should be") and bad.stderr.count("\n") == 1


def test_sgd_only_keys_rejected_for_adam(raw):
    bad = _set(raw, "stage1.train.optimizer", {"name": "adam", "lr": 1e-3, "momentum": 0.9})
    with pytest.raises(ConfigError, match="momentum/nesterov apply to sgd only"):
        parse_params(bad)


def test_step_milestones_are_fractions_of_training(raw):
    bad = _set(raw, "stage1.train.schedule", {"name": "step", "milestones": [0.5, 1.5]})
    with pytest.raises(ConfigError, match=r"stage1.train.schedule.milestones.1: Input should be less than 1"):
        parse_params(bad)
    # Fractions, so the quick profile's fewer epochs keep a valid (scaled) schedule.
    good = parse_params(_set(raw, "stage1.train.schedule", {"name": "step", "milestones": [0.5, 0.75]}))
    assert good.stage1.train_for("quick").schedule.milestones == [0.5, 0.75]


def test_missing_file_and_broken_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found; run from the repository root"):
        load_params(tmp_path / "params.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("profile: quick\ndata: {source: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_params(broken)
    broken.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_params(broken)


def test_yaml_12_floats_match_dvc(tmp_path, raw):
    """`1e-3` (no dot) is a float in YAML 1.2, as DVC reads it; PyYAML would make it a string."""
    text = (ROOT / "params.yaml").read_text().replace("lr: 0.05", "lr: 1e-3")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert load_params(path).stage1.train.optimizer.lr == pytest.approx(1e-3)


def test_the_stage2_analysis_view_reads_a_variant_as_training_does():
    """analysis/stage2_results.py types stage2.variants itself (it imports no experiment code): its defaults
    must be ScalingVariant's, or a variant that leaves a key out would be tabled with another shape."""
    from cifar10_study.analysis.stage2_results import VariantShape
    from cifar10_study.experiments.stage2 import ScalingVariant

    assert set(VariantShape.model_fields) == set(ScalingVariant.model_fields)
    for given in ({}, {"width": 3}, {"convs_per_stage": 2}):
        assert VariantShape.model_validate(given).model_dump() == ScalingVariant.model_validate(given).model_dump()


def test_the_stage2_analysis_view_reads_learned_accuracy_as_check_params_does():
    """The analysis's own view of stage2 must default learned_accuracy as the validated section does, or a
    params.yaml without the key would pass check_params and stop the analysis."""
    from cifar10_study.analysis.stage2_results import VariantSettings
    from cifar10_study.experiments.stage2 import Stage2Config

    given = {"seeds": {"seed_0": ["full", "preview", "quick", "smoke"]}, "variants": {"width_x2": {"width": 2}},
             "loss_window": 20}
    assert VariantSettings.model_validate(given).learned_accuracy == Stage2Config.model_validate(given).learned_accuracy
