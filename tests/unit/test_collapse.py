"""The linear-collapse check: a network without non-linearities equals one affine map, others do not."""
import torch

from cifar10_study.data.cifar10 import Split
from cifar10_study.experiments.collapse import affine_fit, affine_map, is_affine
from cifar10_study.models.baseline import BaselineCNNConfig


def net(**kw):
    torch.manual_seed(0)
    return BaselineCNNConfig(name="baseline_cnn", channels=[8, 16, 16], hidden=32, **kw).build()


def real_like_split(n=64):
    g = torch.Generator().manual_seed(0)
    return Split(torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
                 torch.randint(0, 10, (n,), generator=g))


def test_identity_activation_with_avg_pool_is_exactly_affine():
    model = net(activation="identity", pool="avg")
    fit = affine_fit(model, real_like_split())
    assert fit["max_abs_diff_float64"] < 1e-10
    assert fit["max_rel_diff_float32"] < 1e-5
    assert is_affine(fit)
    assert fit["affine_accuracy"] == fit["network_accuracy"]


def test_affine_map_reproduces_the_network_on_random_inputs():
    model = net(activation="identity", pool="avg").double()
    W, b = affine_map(model)
    assert W.shape == (10, 3072) and b.shape == (10,)
    x = torch.randn(5, 3, 32, 32, dtype=torch.float64)
    assert torch.allclose(model(x), x.flatten(1) @ W.T + b, atol=1e-10)


def test_relu_or_max_pool_networks_are_not_affine():
    for kw in ({}, {"activation": "identity"}, {"pool": "avg"}):
        fit = affine_fit(net(**kw), real_like_split())
        assert not is_affine(fit), kw
        assert fit["max_rel_diff_float32"] > 1e-2
