"""Evaluation: a model's mean loss, accuracy and every image's prediction with its confidence on a split,
in the device's layout and precision, shared between the processes that train a run together."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.augment import normalize
from ..data.cifar10 import Split
from .device import autocast, to_memory_format
from .distributed import SINGLE, World, broadcast_buffers, chunk_bounds, gather_chunks, total_over_processes


@dataclass
class EvalResult:
    loss: float  # mean cross-entropy (no label smoothing), nats
    accuracy: float  # fraction correct, 0..1
    predictions: np.ndarray = field(repr=False)  # int64 [N]
    labels: np.ndarray = field(repr=False)  # int64 [N]
    # float32 [N]: the softmax probability of the predicted class, for calibration (analysis/calibration.py)
    confidence: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.float32))


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, batch_size: int, device: torch.device,
             world: World = SINGLE) -> EvalResult:
    """Mean loss, accuracy and every image's prediction with its confidence. With several processes each
    evaluates its contiguous share of the images (rank 0's model: see broadcast_buffers) and the results
    are combined."""
    was_training = model.training
    model.eval()
    broadcast_buffers(model, world)
    bounds = chunk_bounds(len(split), world)
    first, last = bounds[world.rank]
    batch_losses = [torch.empty(0, device=device)]  # each batch's summed loss, float32
    preds = [torch.empty(0, dtype=torch.long, device=device)]
    confidences = [torch.empty(0, dtype=torch.float32, device=device)]
    for start in range(first, last, batch_size):
        end = min(start + batch_size, last)
        x = to_memory_format(normalize(split.images[start:end]), device)
        y = split.labels[start:end]
        with autocast(device):
            logits = model(x)
        batch_losses.append(F.cross_entropy(logits.float(), y, reduction="sum").view(1))
        preds.append(logits.argmax(1))
        confidences.append(logits.float().softmax(1).amax(1))
    model.train(was_training)
    loss_sum = total_over_processes(torch.cat(batch_losses), world)  # in float64, on the host
    sizes = [end - start for start, end in bounds]
    predictions = gather_chunks(torch.cat(preds), sizes, world).cpu().numpy()
    confidence = gather_chunks(torch.cat(confidences), sizes, world).cpu().numpy()
    labels = split.labels.cpu().numpy()
    return EvalResult(loss_sum / len(split), float((predictions == labels).mean()), predictions, labels,
                      confidence)
