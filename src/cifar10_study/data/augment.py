"""Batched augmentation on the training device: whole-batch tensor ops, no per-image PIL work.

Images stay uint8 [B, 3, 32, 32] through crop and flip (a quarter of the float traffic), then are
scaled to [0, 1] and normalised with the CIFAR-10 channel statistics; Cutout, if on, zeroes a square of
the normalised batch (zero = the dataset mean). MixUp is a batch transform (images, labels) ->
(mixed images, soft targets) that the engine applies after this.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from pydantic import Field

from . import IMAGE_SIZE
from ..core.schema import Section
from .cifar10 import MEAN, STD


class AugmentConfig(Section):
    """A recipe's per-image augmentation (params.yaml `<stage>.train.augment`)."""

    crop_padding: int = Field(4, ge=0, le=16)  # random crop of 32x32 from the zero-padded image
    flip: bool = True  # random horizontal flip with probability 1/2
    cutout: int = Field(0, ge=0, le=IMAGE_SIZE)  # side of the Cutout square, px; 0 = off


def batch_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop of each image's original size from a copy zero-padded by `padding` px on every side.

    Equivalent to torchvision's RandomCrop(32, padding=4) per image, with offsets drawn uniformly
    from 0..2*padding for rows and columns independently.
    """
    if padding == 0:
        return images
    b, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), device=images.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), device=images.device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, :, None]  # [B, H, 1]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, :]  # [B, 1, W]
    batch = torch.arange(b, device=images.device)[:, None, None]
    # Advanced indexing around the channel slice yields [B, H, W, C]; move channels back.
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)


def batch_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


@functools.lru_cache(maxsize=None)
def _scale_shift(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (1 / (255 std), mean / std) [1, 3, 1, 1], made once per device: building them per
    batch would be a host-to-device copy, i.e. a synchronisation, at every CUDA step."""
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    return (1 / (255 * std)).to(device, dtype), (mean / std).to(device, dtype)


def normalize(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float, scaled to [0, 1] and standardised per channel."""
    # (x / 255 - mean) / std folded into one multiply and one subtract, in place on the fresh float copy.
    scale, shift = _scale_shift(images.device, dtype)
    return images.to(dtype).mul_(scale).sub_(shift)


def batch_cutout(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one size x size square per image, centred at a uniformly random pixel and clipped at the
    border (DeVries & Taylor 2017), so a square near an edge covers less than size^2 pixels."""
    b, _, h, w = images.shape
    cy = torch.randint(0, h, (b, 1), device=images.device, generator=generator)
    cx = torch.randint(0, w, (b, 1), device=images.device, generator=generator)
    top, left = cy - size // 2, cx - size // 2  # the square spans [top, top + size) x [left, left + size)
    rows, cols = torch.arange(h, device=images.device), torch.arange(w, device=images.device)
    in_rows = (rows >= top) & (rows < top + size)  # [B, H]
    in_cols = (cols >= left) & (cols < left + size)  # [B, W]
    return images.masked_fill((in_rows[:, :, None] & in_cols[:, None, :])[:, None], 0)


class MixUp:
    """MixUp (Zhang et al. 2018) as a batch transform: with lambda ~ Beta(alpha, alpha), one per batch,
    x' = lambda x + (1 - lambda) x[perm] and y' = lambda onehot(y) + (1 - lambda) onehot(y[perm]).

    lambda is drawn from torch's global CPU generator (seeded by the run, saved in checkpoints) as a
    Python float, so on CUDA it reaches the kernels as a scalar without a host synchronisation; the
    pairing permutation comes from the run's device generator.
    """

    def __init__(self, alpha: float, generator: torch.Generator, num_classes: int = 10):
        self.beta = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(alpha)))
        self.generator, self.num_classes = generator, num_classes

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lam = float(self.beta.sample())
        perm = torch.randperm(images.shape[0], device=images.device, generator=self.generator)
        onehot = F.one_hot(labels, self.num_classes).to(images.dtype)
        return (images.mul(lam).add_(images[perm], alpha=1 - lam),
                onehot.mul(lam).add_(onehot[perm], alpha=1 - lam))


class TrainAugment:
    """uint8 batch -> augmented, normalised float batch, drawing randomness from one seeded generator."""

    def __init__(self, cfg: AugmentConfig, generator: torch.Generator):
        self.cfg, self.generator = cfg, generator

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = batch_crop(images, self.cfg.crop_padding, self.generator)
        if self.cfg.flip:
            images = batch_flip(images, self.generator)
        images = normalize(images)
        if self.cfg.cutout:
            images = batch_cutout(images, self.cfg.cutout, self.generator)
        return images
