"""Stage 3: every switch changes the module graph as it should; gradients; label smoothing; ablation wiring."""
import math

import pytest
import torch
from torch import nn

from cifar10_study.components.stage3_components import STAGE3_COMPONENTS
from cifar10_study.experiments import stage3
from cifar10_study.experiments.stage3 import Stage3Config
from cifar10_study.models.residual import Block, ResidualCNNConfig
from cifar10_study.params import load_params
from cifar10_study.training.engine import soft_cross_entropy
from helpers import ROOT


def cfg(**kw):
    return ResidualCNNConfig(name="residual_cnn", **{"channels": [8, 16, 32], "blocks_per_stage": 1, **kw})


def count(model, kind):
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.mark.parametrize("kw", [{}, {"residual": False}, {"batchnorm": False}, {"dropout": 0.5},
                                {"blocks_per_stage": 2, "channels": [8, 8]}])
def test_output_shape_and_every_parameter_gets_a_gradient(kw):
    torch.manual_seed(0)
    model = cfg(**kw).build()
    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 10)
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_no_batchnorm_removes_every_batchnorm_and_gives_convs_biases():
    with_bn, without = cfg().build(), cfg(batchnorm=False).build()
    assert count(with_bn, nn.BatchNorm2d) == 1 + 3 * 2 + 2  # stem, two per block, two projection shortcuts
    assert count(without, nn.BatchNorm2d) == 0
    assert all(c.bias is None for c in with_bn.modules() if isinstance(c, nn.Conv2d))
    assert all(c.bias is not None for c in without.modules() if isinstance(c, nn.Conv2d))


def _skip_contributions(model, x):
    """Per block, whether its output differs from ReLU(body(x)), i.e. whether a skip path was added."""
    seen = []

    def hook(block, inputs, output):
        seen.append(not torch.allclose(output, block.act(block.body(inputs[0]))))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, Block)]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return seen


def test_no_residual_removes_every_skip_addition():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    assert _skip_contributions(cfg().build(), x) == [True, True, True]
    plain = cfg(residual=False).build()
    assert _skip_contributions(plain, x) == [False, False, False]
    assert all(b.shortcut is None for b in plain.modules() if isinstance(b, Block))
    assert sum(p.numel() for p in plain.parameters()) < sum(p.numel() for p in cfg().build().parameters())


def test_dropout_switch():
    assert [m.p for m in cfg(dropout=0.3).build().modules() if isinstance(m, nn.Dropout)] == [0.3]
    model = cfg(dropout=0.5).build().train()
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    assert not torch.allclose(a, model(x))  # dropout is active in training mode
    model.eval()
    assert torch.allclose(model(x), model(x))


def test_label_smoothing_matches_the_hand_computed_loss():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    target = torch.tensor([0])
    eps = 0.3
    log_p = torch.log_softmax(logits, dim=1)[0]
    # The target becomes (1 - eps) one-hot + eps / K uniform: loss = -sum(q_k log p_k).
    expected = -((1 - eps + eps / 3) * log_p[0] + (eps / 3) * log_p[1] + (eps / 3) * log_p[2])
    assert soft_cross_entropy(logits, target, eps).item() == pytest.approx(expected.item(), rel=1e-6)
    assert soft_cross_entropy(logits, target, 0.0).item() == pytest.approx(-log_p[0].item(), rel=1e-6)
    # A confidently right prediction costs more with smoothing, a uniform one the same.
    assert soft_cross_entropy(logits, target, eps) > soft_cross_entropy(logits, target, 0.0)
    uniform = torch.zeros(1, 3)
    assert soft_cross_entropy(uniform, target, eps).item() == pytest.approx(math.log(3), rel=1e-6)


def test_each_ablation_turns_off_exactly_its_own_switch():
    params = load_params(ROOT / "params.yaml")
    full = stage3.switches(params)
    for component in STAGE3_COMPONENTS:
        name, key = component.ablation, component.switch
        values = stage3.switches(params, name)
        assert values[key] == component.off and values[key] != full[key], name
        assert {k: v for k, v in values.items() if k != key} == {k: v for k, v in full.items() if k != key}
        train = stage3.recipe(params, values)
        assert train.label_smoothing == values["label_smoothing"]
        assert train.optimizer.weight_decay == values["weight_decay"]


def test_every_component_is_a_config_field_and_a_params_key():
    """The declaration, the config that validates the switches and params.yaml name the same components."""
    switches = [c.switch for c in STAGE3_COMPONENTS]
    assert set(switches) <= set(Stage3Config.model_fields)
    assert set(switches) <= set(load_params(ROOT / "params.yaml").stage3.model_fields_set)
    assert list(stage3.switches(load_params(ROOT / "params.yaml"))) == switches


@pytest.mark.parametrize("ablation", [None, *(c.ablation for c in STAGE3_COMPONENTS)])
def test_the_full_model_and_each_ablation_train_one_seed_into_its_own_folder(monkeypatch, ablation):
    """stage3@seed_<n> and stage3_no_<component>@seed_<n>: the seed of the stage's argument, the recipe of the
    switches with the ablation's one off, into runs/stage3/<seed>/ or runs/stage3_ablations/<ablation>/<seed>/."""
    params = load_params(ROOT / "params.yaml")
    calls = []
    monkeypatch.setattr(stage3, "train_run", lambda name, model_cfg, train_cfg, data, **kw: calls.append(
        (name, model_cfg, train_cfg)))
    stage3.train(params, "seed_2", None, torch.device("cpu"), ablation)
    [(name, model_cfg, train_cfg)] = calls
    assert name == ("stage3/seed_2" if ablation is None else f"stage3_ablations/{ablation}/seed_2")
    values = stage3.switches(params, ablation)
    assert model_cfg == stage3.model_config(params, values)
    assert train_cfg.seed == 2  # from the stage's seed, never from params.yaml
    assert train_cfg.model_dump(exclude={"seed"}) == stage3.recipe(params, values).model_dump(exclude={"seed"})


def test_the_switches_are_read_from_the_section_as_validated():
    """switched() reads each component's switch off the stage3 section itself: a changed switch reaches the full
    model, and the ablation of that very component still turns it off."""
    params = load_params(ROOT / "params.yaml")
    changed = params.model_copy(update={"stage3": params.stage3.model_copy(update={"dropout": 0.3})})
    assert stage3.switches(changed)["dropout"] == 0.3
    assert stage3.switches(changed, "no_dropout")["dropout"] == 0.0
    assert stage3.switches(changed, "no_residual")["dropout"] == 0.3
