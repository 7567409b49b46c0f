"""Stage 1 models: shapes, exact parameter counts, the <1M budget, gradients, and the variant switches."""
import pytest
import torch
from torch import nn

from cifar10_study.models.baseline import BaselineCNNConfig, SoftmaxConfig
from cifar10_study.params import load_params
from helpers import ROOT


def conv(i, o):
    return 9 * i * o + o


def lin(i, o):
    return i * o + o


def baseline(**kw):
    return BaselineCNNConfig(name="baseline_cnn", **{"channels": [32, 64, 128], "hidden": 256, **kw})


def test_shipped_baseline_is_under_one_million_parameters_exactly_as_designed():
    cfg = load_params(ROOT / "params.yaml").stage1.model
    model = cfg.build()
    n = sum(p.numel() for p in model.parameters())
    assert n < 1_000_000
    c = cfg.channels
    expected = conv(3, c[0]) + conv(c[0], c[1]) + conv(c[1], c[2]) + lin(c[2] * 4 * 4, cfg.hidden) + lin(cfg.hidden, 10)
    assert n == expected == 620_362


@pytest.mark.parametrize("cfg", [baseline(), baseline(convs_per_stage=2), baseline(hidden=0),
                                 baseline(activation="identity", pool="avg"), baseline(channels=[8, 8, 8, 8, 8]),
                                 SoftmaxConfig(name="softmax")])
def test_output_shape_and_every_parameter_gets_a_gradient(cfg):
    torch.manual_seed(0)
    model = cfg.build()
    x = torch.randn(4, 3, 32, 32)
    out = model(x)
    assert out.shape == (4, 10)
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_switches_change_the_module_graph():
    relu = baseline().build()
    linear = baseline(activation="identity", pool="avg").build()
    assert sum(isinstance(m, nn.ReLU) for m in relu.modules()) == 4  # 3 conv stages + hidden layer
    assert not any(isinstance(m, (nn.ReLU, nn.MaxPool2d)) for m in linear.modules())
    assert sum(isinstance(m, nn.AvgPool2d) for m in linear.modules()) == 3
    deep = baseline(convs_per_stage=3).build()
    assert sum(isinstance(m, nn.Conv2d) for m in deep.modules()) == 9
    assert sum(p.numel() for p in baseline(hidden=0).build().parameters()) == \
        conv(3, 32) + conv(32, 64) + conv(64, 128) + lin(2048, 10)


def test_softmax_classifier_is_one_linear_layer():
    model = SoftmaxConfig(name="softmax").build()
    assert sum(p.numel() for p in model.parameters()) == lin(3072, 10)


def test_the_layer_table_leaves_a_batchnorm_model_untouched():
    """Its forward pass (for the output shapes) runs in eval mode: no running statistic moves, and the
    model's mode is restored. Every run records the table in its info.json (for the report)."""
    from cifar10_study.models.residual import ResidualCNNConfig
    from cifar10_study.training.measure import layer_table

    model = ResidualCNNConfig(name="residual_cnn", channels=[8, 16]).build().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = layer_table(model)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert sum(r["parameters"] for r in rows) == sum(p.numel() for p in model.parameters())
    assert next(r for r in rows if r["layer"] == "stem.0.0")["output_shape"] == "8x32x32"


def test_the_report_parameter_table_adds_shares_and_a_total():
    from cifar10_study.reporting.tables import parameter_table

    table = parameter_table([{"layer": "a", "type": "Conv2d", "output_shape": "8x32x32", "parameters": 300},
                             {"layer": "b", "type": "Linear", "output_shape": "10", "parameters": 100}])
    assert table["share_%"].tolist() == [75.0, 25.0, 100.0]
    assert table.iloc[-1].to_dict() == {"layer": "total", "type": "", "output_shape": "", "parameters": 400,
                                        "share_%": 100.0}
