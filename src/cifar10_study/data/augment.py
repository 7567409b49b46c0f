"""Batched augmentation on the training device: whole-batch tensor ops, no per-image PIL work.

Images stay uint8 [B, 3, 32, 32] through crop and flip (a quarter of the float traffic), then are
scaled to [0, 1] and normalised with the CIFAR-10 channel statistics; Cutout, if on, zeroes a square of
the normalised batch (zero = the dataset mean). MixUp is a batch transform (images, labels) ->
(mixed images, soft targets) that the engine applies after this.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pydantic import Field

from ..core.schema import Section
from . import IMAGE_SIZE
from .cifar10 import MEAN, STD


class AugmentConfig(Section):
    """A recipe's per-image augmentation (params.yaml `<stage>.train.augment`)."""

    crop_padding: int = Field(4, ge=0, le=16)  # random crop of 32x32 from the zero-padded image
    flip: bool = True  # random horizontal flip with probability 1/2
    cutout: int = Field(0, ge=0, le=IMAGE_SIZE)  # side of the Cutout square, px; 0 = off


def crop_offsets(batch: int, padding: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's crop offsets (rows, columns), drawn uniformly and independently from 0..2*padding."""
    dy = torch.randint(0, 2 * padding + 1, (batch,), device=generator.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (batch,), device=generator.device, generator=generator)
    return dy, dx


def crop_at(images: torch.Tensor, padding: int, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Each image's original-size window of a copy zero-padded by `padding` px on every side, at its
    offsets (dy, dx); padding 0 is the identity. With crop_offsets' uniform draws this is torchvision's
    RandomCrop(32, padding=4) applied per image."""
    if padding == 0:
        return images
    b, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, :, None]  # [B, H, 1]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, :]  # [B, 1, W]
    batch = torch.arange(b, device=images.device)[:, None, None]
    # Advanced indexing around the channel slice yields [B, H, W, C]; move channels back.
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)


def flip_draws(batch: int, generator: torch.Generator) -> torch.Tensor:
    """Which images to mirror: each with probability 1/2 (bool [B])."""
    return torch.rand(batch, device=generator.device, generator=generator) < 0.5


def flip_where(images: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


@functools.lru_cache(maxsize=None)
def _scale_shift(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (1 / (255 std), mean / std) [1, 3, 1, 1], made once per device: building them per
    batch would be a host-to-device copy, i.e. a synchronisation, at every CUDA step."""
    # Computed in Python floats (float64) and rounded once to `dtype`: no float64 tensor, which MPS lacks.
    scale = torch.tensor([1 / (255 * s) for s in STD], dtype=dtype).view(1, 3, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(MEAN, STD)], dtype=dtype).view(1, 3, 1, 1)
    return scale.to(device), shift.to(device)


def normalize(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float, scaled to [0, 1] and standardised per channel."""
    # (x / 255 - mean) / std folded into one multiply and one subtract, in place on the fresh float copy.
    scale, shift = _scale_shift(images.device, dtype)
    return images.to(dtype).mul_(scale).sub_(shift)


def cutout_centres(batch: int, size: tuple[int, int], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's Cutout centre (row, column) [B, 1], uniform over the h x w pixels of `size`."""
    h, w = size
    cy = torch.randint(0, h, (batch, 1), device=generator.device, generator=generator)
    cx = torch.randint(0, w, (batch, 1), device=generator.device, generator=generator)
    return cy, cx


def cutout_at(images: torch.Tensor, size: int, cy: torch.Tensor, cx: torch.Tensor) -> torch.Tensor:
    """Zero a size x size square of each image centred at (cy, cx), clipped at the border (DeVries & Taylor
    2017), so a square near an edge covers less than size^2 pixels."""
    _, _, h, w = images.shape
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

    def draw(self, batch: int) -> tuple[float, torch.Tensor]:
        """A batch's lambda and pairing permutation, drawn apart from the mixing so that an epoch's draws
        can all be made at its start (epoch_batches.py), batch after batch in the order of the steps."""
        lam = float(self.beta.sample())
        return lam, torch.randperm(batch, device=self.generator.device, generator=self.generator)

    def apply(self, images: torch.Tensor, labels: torch.Tensor,
              draws: tuple[float, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lam, perm = draws
        onehot = F.one_hot(labels, self.num_classes).to(images.dtype)
        return (images.mul(lam).add_(images[perm], alpha=1 - lam),
                onehot.mul(lam).add_(onehot[perm], alpha=1 - lam))


@dataclass
class AugmentDraws:
    """The random draws of TrainAugment for a run of images: crop offsets, flips and Cutout centres (None
    where that augmentation is off). Draws for consecutive batches concatenate into the draws of the
    images they cover (cat), so an epoch is augmented in one pass with exactly the per-batch draws."""

    crop: tuple[torch.Tensor, torch.Tensor] | None = None  # (rows, columns) offsets [B]
    flip: torch.Tensor | None = None  # bool [B]
    cutout: tuple[torch.Tensor, torch.Tensor] | None = None  # centres (rows, columns) [B, 1]

    @staticmethod
    def cat(draws: list[AugmentDraws]) -> AugmentDraws:
        first = draws[0]
        join = lambda pick: torch.cat([pick(d) for d in draws])
        return AugmentDraws(
            crop=(join(lambda d: d.crop[0]), join(lambda d: d.crop[1])) if first.crop else None,
            flip=join(lambda d: d.flip) if first.flip is not None else None,
            cutout=(join(lambda d: d.cutout[0]), join(lambda d: d.cutout[1])) if first.cutout else None)


class TrainAugment:
    """uint8 batch -> augmented, normalised float batch, drawing randomness from one seeded generator.

    draw(B) makes a batch's draws, in a fixed order (crop rows, crop columns, flips, Cutout rows, Cutout
    columns); apply(images, draws) uses them. apply is exact elementwise and indexing work, so one apply over
    many batches' concatenated draws equals applying each batch's own."""

    def __init__(self, cfg: AugmentConfig, generator: torch.Generator):
        self.cfg, self.generator = cfg, generator

    def draw(self, batch: int) -> AugmentDraws:
        cfg, g = self.cfg, self.generator
        return AugmentDraws(crop=crop_offsets(batch, cfg.crop_padding, g) if cfg.crop_padding else None,
                            flip=flip_draws(batch, g) if cfg.flip else None,
                            cutout=cutout_centres(batch, (IMAGE_SIZE, IMAGE_SIZE), g) if cfg.cutout else None)

    def apply(self, images: torch.Tensor, draws: AugmentDraws) -> torch.Tensor:
        if draws.crop is not None:
            images = crop_at(images, self.cfg.crop_padding, *draws.crop)
        if draws.flip is not None:
            images = flip_where(images, draws.flip)
        images = normalize(images)
        if draws.cutout is not None:
            images = cutout_at(images, self.cfg.cutout, *draws.cutout)
        return images
