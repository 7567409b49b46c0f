"""An epoch's training batches, augmented all at once on the training device at the epoch's start.

Augmenting batch by batch costs the host a few dozen small operations every step (gather, pad, offsets,
indexing, flip, normalise, Cutout), and on a GPU whose steps take a few milliseconds that host work is
what the step waits for (docs/gpu.md: on an H100, 2.65 ms of kernels in a 4.05 ms step). Here the epoch's
random draws are made first, batch by batch in the order per-batch augmentation makes them (crop, flip
and Cutout draws, then the batch transform's, e.g. MixUp's lambda and pairing), so a seed trains on the
very batches augmenting each one at its step would give, bit for bit on CPU; then one pass over the
epoch's images applies them, and each step takes its slice. MixUp's lambda comes from torch's global
generator, which CPU dropout also draws from: with both in a recipe (none of the study's stages has),
dropout's draws come after all of the epoch's lambdas.
Memory: the epoch's float images on the device, 12 KiB an image (0.6 GB for 50,000), and at the epoch's
start, for a moment, the padded, cropped, flipped and Cutout copies too (about 1.3-1.5 GB for 50,000):
runs' peak_memory_bytes include it, so compare them only with runs of this engine (from 2026-12-03).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from ..data.augment import AugmentDraws, TrainAugment
from ..data.cifar10 import Split
from .distributed import World, epoch_shard, local_batch_size


class BatchTransform(Protocol):
    """A transform of each step's augmented batch (MixUp) into images and (possibly soft [B, C]) targets, its
    randomness drawn apart from its work: draw(B) at the epoch's start, apply(images, labels, draws) at the step."""

    def draw(self, batch: int) -> Any: ...

    def apply(self, images: torch.Tensor, labels: torch.Tensor, draws: Any) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass
class EpochBatches:
    """This process's batches of one epoch: step i is images/labels[i * batch:(i + 1) * batch]."""

    images: torch.Tensor  # float [steps * batch, 3, H, W], augmented and normalised
    labels: torch.Tensor  # int64 [steps * batch]
    batch: int  # this process's share of a step's batch
    transform: BatchTransform | None = None
    transform_draws: list | None = None  # the transform's draws, one per step

    def step(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step i's (images, targets, labels): targets are the labels, or the batch transform's (soft) ones."""
        window = slice(i * self.batch, (i + 1) * self.batch)
        x, y = self.images[window], self.labels[window]
        if self.transform is None:
            return x, y, y
        x, target = self.transform.apply(x, y, self.transform_draws[i])
        return x, target, y


def augmented_epoch(split: Split, order: torch.Tensor, steps: int, batch_size: int, world: World,
                    augment: TrainAugment, transform: BatchTransform | None = None) -> EpochBatches:
    """The epoch whose global batch order is `order` (the first steps * batch_size of it are used; the
    last partial batch is dropped): this process's shard of every step, augmented in one pass."""
    local = local_batch_size(batch_size, world)
    augment_draws, transform_draws = [], []
    for _ in range(steps):  # the per-batch order of draws, whatever the pass below does with them
        augment_draws.append(augment.draw(local))
        if transform is not None:
            transform_draws.append(transform.draw(local))
    idx = epoch_shard(order, steps, batch_size, world)
    images = augment.apply(split.images[idx], AugmentDraws.cat(augment_draws))
    return EpochBatches(images, split.labels[idx], local, transform, transform_draws if transform is not None else None)
