"""Measurements of models and runs: parameter counts, FLOPs, peak memory, confusion matrices, provenance."""
from __future__ import annotations

import contextlib
import platform
import re
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from sklearn.metrics import confusion_matrix
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..core.provenance import git_state
from ..data import CLASSES, IMAGE_SHAPE


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weight_decay_by_kind(optimizer: torch.optim.Optimizer) -> dict[str, dict]:
    """What the optimizer decays: {"weights" (conv and linear, >= 2-D) | "1-D (batch-norm scale/shift,
    biases)": {"tensors", "values", "weight_decay" (the distinct values applied, sorted)}}, for kinds present.
    Recipes differ on whether batch-norm and bias parameters are decayed; this reads what the code does."""
    kinds: dict[str, dict] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            kind = "weights" if p.ndim >= 2 else "1-D (batch-norm scale/shift, biases)"
            entry = kinds.setdefault(kind, {"tensors": 0, "values": 0, "weight_decay": set()})
            entry["tensors"] += 1
            entry["values"] += p.numel()
            entry["weight_decay"].add(float(group["weight_decay"]))
    return {kind: {**e, "weight_decay": sorted(e["weight_decay"])} for kind, e in kinds.items()}


def forward_one_image(model: nn.Module) -> torch.Tensor:
    """The model applied to one blank image, in eval mode and without gradients; the model's mode is
    restored afterwards (a train-mode pass would update batch-norm running statistics)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(torch.zeros(1, *IMAGE_SHAPE, device=next(model.parameters()).device))
    finally:
        model.train(was_training)


def layer_table(model: nn.Module) -> list[dict]:
    """One row per module that owns parameters, in definition order: {"layer" (its name), "type", "output_shape"
    (e.g. "32x32x32"), "parameters" (its own)}. Output shapes come from an eval-mode pass on one image."""
    shapes: dict[str, list[int]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: shapes.__setitem__(name, list(out.shape[1:])))
             for name, m in model.named_modules() if name]
    try:
        forward_one_image(model)
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if own:
            rows.append({"layer": name, "type": type(module).__name__,
                         "output_shape": "x".join(map(str, shapes.get(name, []))), "parameters": own})
    return rows


def flops_per_image(model: nn.Module) -> int:
    """Forward-pass FLOPs for one 32x32 image (a multiply-add counts as 2), counted by PyTorch's
    FlopCounterMode over the ops actually dispatched (convolutions and matmuls)."""
    with FlopCounterMode(display=False) as counter:
        forward_one_image(model)
    return int(counter.get_total_flops())


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[dict]:
    """Peak memory while the block runs, in bytes, into the yielded dict's "bytes" (None if unknown).

    CUDA: the caching allocator's peak of allocated tensor memory. CPU on Linux: the process's peak
    resident set size (VmHWM, reset on entry through /proc/self/clear_refs), which includes the data,
    the libraries and the interpreter, not just the model's tensors.
    """
    out = {"bytes": None, "start_bytes": None,
           "kind": "cuda_allocated" if device.type == "cuda" else "process_peak_rss"}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        out["start_bytes"] = int(torch.cuda.memory_allocated(device))
        yield out
        out["bytes"] = int(torch.cuda.max_memory_allocated(device))
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS counter
        out["start_bytes"] = _status_kb("VmRSS")
        readable = out["start_bytes"] is not None
    except OSError:
        readable = False
    yield out
    if readable:
        out["bytes"] = _status_kb("VmHWM")


def _status_kb(field: str) -> int | None:
    """A memory figure of this process from /proc/self/status, in bytes."""
    match = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) * 1024 if match else None


def confusion(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """[10, 10] counts, rows = true class, columns = predicted class (scikit-learn's convention)."""
    return confusion_matrix(labels, predictions, labels=list(range(len(CLASSES))))


def per_class_accuracy(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float | None]:
    """Accuracy per true class; None (JSON null, not NaN) for a class absent from `labels`."""
    cm = confusion(labels, predictions)
    support = cm.sum(axis=1)
    return {c: float(cm[i, i] / support[i]) if support[i] else None for i, c in enumerate(CLASSES)}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device) -> str:
    """A human-readable name of what trained: GPU model, or CPU model and thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_name()} CPU, {torch.get_num_threads()} threads"


def provenance(profile: str, seed: int, device: torch.device, data_meta: dict) -> dict:
    """What a run's results come from and an identical rerun repeats (the same on every machine)."""
    return {
        "profile": profile,
        "seed": seed,
        "device": device.type,
        "torch_version": torch.__version__,
        # CPU results agree to the last digit only at the same thread count (docs/pipeline.md)
        "torch_threads": torch.get_num_threads(),
        "data_source": data_meta.get("source"),
        "data_official": data_meta.get("official"),
        "data_counts": data_meta.get("counts"),
    }


def where_and_when(device: torch.device) -> dict:
    """The machine and the code state a run happened on: provenance that an identical rerun elsewhere, or at
    a later commit, would change without changing a result (so it goes to timing.json with the timings)."""
    return {"hardware": hardware(device), **git_state()}
