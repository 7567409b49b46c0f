"""Linear collapse: a network with no non-linearities is one affine map, and we can show it numerically.

With activation = identity and average pooling, every layer is affine, so f(x) = W x + b exactly.
`affine_map` reads W and b off the trained network (b = f(0); column i of W = f(e_i) - f(0)), and
`affine_fit` compares f with W x + b on real images: for the purely affine network the difference is
float rounding, for any network with a ReLU or max-pool it is large.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..data import IMAGE_SHAPE, PIXELS
from ..data.augment import normalize
from ..data.cifar10 import Split
from ..training.device import to_memory_format


@torch.no_grad()
def affine_map(model: nn.Module, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """W [classes, 3072] and b [classes] in float64 such that f(x) = W @ x.flatten() + b if f is affine."""
    net = copy.deepcopy(model).cpu().double().eval()
    b = net(torch.zeros(1, *IMAGE_SHAPE, dtype=torch.float64))[0]
    basis = torch.eye(PIXELS, dtype=torch.float64).view(PIXELS, *IMAGE_SHAPE)
    columns = torch.cat([net(basis[i:i + chunk]) - b for i in range(0, PIXELS, chunk)])
    return columns.T.contiguous(), b


@torch.no_grad()
def affine_fit(model: nn.Module, split: Split, n_images: int = 1000) -> dict:
    """How far the trained network's logits on real (normalised) images are from W x + b.

    Returns the largest absolute logit difference for the network run in float32 (as trained) and in
    float64, relative to the largest logit magnitude, and the accuracy of the affine map itself.
    """
    W, b = affine_map(model)
    images = normalize(split.images[:n_images].cpu())
    labels = split.labels[:n_images].cpu()
    affine_logits = images.double().flatten(1) @ W.T + b
    net32 = copy.deepcopy(model).cpu().float().eval()
    logits32 = net32(to_memory_format(images, torch.device("cpu"))).double()
    logits64 = copy.deepcopy(model).cpu().double().eval()(images.double())
    scale = affine_logits.abs().max().item()
    return {
        "images": len(labels),
        "max_abs_logit": scale,
        "max_abs_diff_float32": (logits32 - affine_logits).abs().max().item(),
        "max_abs_diff_float64": (logits64 - affine_logits).abs().max().item(),
        "max_rel_diff_float32": (logits32 - affine_logits).abs().max().item() / scale,
        "affine_accuracy": (affine_logits.argmax(1) == labels).double().mean().item(),
        "network_accuracy": (logits32.argmax(1) == labels).double().mean().item(),
    }


def is_affine(fit: dict, rtol: float = 1e-4) -> bool:
    """float32 logits agree with W x + b to float tolerance (relative to the logit scale)."""
    return fit["max_rel_diff_float32"] <= rtol
