"""The params rules that span several keys, each with its one-line error: Nesterov needs SGD momentum,
and Stage 3's label smoothing and weight decay are set by their switches only, never a second way."""
import copy

import pytest
from ruamel.yaml import YAML

from cifar10_study.core.errors import ConfigError
from cifar10_study.params import parse_params
from helpers import ROOT


@pytest.fixture(scope="module")
def raw() -> dict:
    return YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())


def with_value(raw: dict, dotted: str, value) -> dict:
    out = copy.deepcopy(raw)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[last] = value
    return out


def error(raw: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_params(raw)
    text = str(err.value)
    assert "\n" not in text and text.startswith("params.yaml: ")
    return text


@pytest.mark.parametrize("section", ["stage1", "stage2_vanishing", "stage3"])
def test_nesterov_needs_momentum(raw, section):
    sgd = {"name": "sgd", "lr": 0.1, "nesterov": True}
    assert "nesterov needs momentum > 0" in error(with_value(raw, f"{section}.train.optimizer", sgd))
    # The same recipe with momentum is valid, and keeps both settings.
    params = parse_params(with_value(raw, f"{section}.train.optimizer", {**sgd, "momentum": 0.9}))
    optimizer = getattr(params, section).train.optimizer
    assert (optimizer.nesterov, optimizer.momentum) == (True, 0.9)


def test_nesterov_without_momentum_is_caught_in_a_profile_override_too(raw):
    # stage1.train has momentum 0.9; a smoke override that sets it to 0 leaves Nesterov on without it.
    assert raw["stage1"]["train"]["optimizer"]["nesterov"] is True
    text = error(with_value(raw, "stage1.smoke", {"epochs": 1, "optimizer": {"momentum": 0.0}}))
    assert ("stage1" in text and "smoke override gives an invalid recipe" in text
            and "nesterov needs momentum > 0" in text)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_nesterov_is_for_sgd_only(raw, name):
    text = error(with_value(raw, "stage1.train.optimizer", {"name": name, "lr": 1e-3, "nesterov": True}))
    assert f"momentum/nesterov apply to sgd only, not {name}" in text


@pytest.mark.parametrize("key,value", [
    ("stage3.train.label_smoothing", 0.1),
    ("stage3.train.label_smoothing", 0.0),  # even the default value: written there, it is a second setting
    ("stage3.train.optimizer.weight_decay", 5e-4),
])
def test_stage3_switches_are_not_set_again_in_its_train_recipe(raw, key, value):
    text = error(with_value(raw, key, value))
    assert "set label_smoothing and weight_decay with the stage3 switches, not in stage3.train" in text


@pytest.mark.parametrize("profile", ["full", "quick", "smoke"])
@pytest.mark.parametrize("override", [{"label_smoothing": 0.2}, {"optimizer": {"weight_decay": 0.0}}])
def test_stage3_profiles_do_not_override_its_switches(raw, profile, override):
    text = error(with_value(raw, f"stage3.{profile}", {"epochs": 1, **override}))
    assert f"stage3.{profile} must not override the label_smoothing / weight_decay switches" in text


def test_the_stage3_switches_reach_every_profiles_recipe(raw):
    """The rule's other side: the switch is the one place, and each profile's recipe carries it."""
    from cifar10_study.experiments import stage3

    params = parse_params(with_value(with_value(raw, "stage3.label_smoothing", 0.2), "stage3.weight_decay", 1e-3))
    for profile in ("full", "quick", "smoke"):
        cfg = stage3.recipe(params.model_copy(update={"profile": profile}), stage3.switches(params, None))
        assert (cfg.label_smoothing, cfg.optimizer.weight_decay) == (0.2, 1e-3)
