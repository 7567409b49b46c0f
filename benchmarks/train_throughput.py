"""Training throughput of the Stage 1 CNN and ResNet-18, three ways, on CPU and (if present) CUDA.

(a) project:    the project's engine.train() loop: uint8 data already on the device, batched crop/flip
                there (augment.py). Its second epoch is timed; the first pays the warm-up.
(b) dataloader: the usual CIFAR recipe, torch.utils.data.DataLoader over PIL images with torchvision
                RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize; on CUDA the way
                typical GPU code runs it: pin_memory=True and non_blocking host-to-device copies.
(c) ceiling:    forward + backward + optimiser step on one fixed, pre-made batch (no data work at all).

All three run the same step as engine.train: device.autocast (bf16 on CUDA and on a CPU with bf16
instructions, fp32 on other CPUs; params.yaml `precision`),
device.to_memory_format (channels_last), optimizers.make_optimizer (fused SGD on CUDA), so they differ only
in where the batches come from. One more row repeats (c) in the layout the engine does not use (the
measurement behind device.py's channels_last choice), and one more in the other precision (fp32 where the
engine uses bf16, bf16 where it uses fp32: what the CPU's bf16 instructions, if it has any, are worth; the
CPU's bf16 capabilities are printed with the hardware);
with --compile another repeats (c) through torch.compile.

Usage:
  python benchmarks/train_throughput.py                  # both models; cpu, plus cuda if present
  python benchmarks/train_throughput.py --models stage1 --devices cpu --repeats 5
  python benchmarks/train_throughput.py --images 1280 --workers 0 4 --csv throughput.csv
  --models {stage1,resnet18}...  --devices {cpu,cuda}...  --batch-size 128  --workers 0 2  --compile
  --images N / --repeats N override every model and device (defaults: DEFAULT_SIZES below).
Uses data/prepared if present (else random pixels: throughput does not depend on content). With both
models the default run takes about 4.5 minutes on a 2-core CPU (ResNet-18 there: ~55 images/s).
"""
from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cifar10_study.data.cifar10 import MEAN, STD, Split, Splits, load_splits
from cifar10_study.experiments import stage4
from cifar10_study.params import load_params
from cifar10_study.training import engine
from cifar10_study.training.device import (
    autocast,
    autocast_dtype,
    cpu_bf16_instructions,
    precision_record,
    settings_for,
    to_memory_format,
    use_precision,
)
from cifar10_study.training.measure import count_parameters, hardware
from cifar10_study.training.optimizers import make_optimizer
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.train_run import build_seeded

MODELS: dict[str, Callable] = {
    "stage1": lambda: load_params().stage1.model,
    "resnet18": lambda: stage4.MODEL,
}

# (images per loop, best of N) by (model, device type). ResNet-18 trains at only ~45 images/s on the
# project's 2-core CPU, so there 5 batches (~15 s a loop) and 2 repeats keep the run to minutes; on
# CUDA a loop needs hundreds of steps before launch and warm-up costs stop showing.
DEFAULT_SIZES = {
    ("stage1", "cpu"): (6400, 3), ("resnet18", "cpu"): (640, 2),
    ("stage1", "cuda"): (25600, 3), ("resnet18", "cuda"): (25600, 3),
}
# Untimed steps before (b) and (c) start the clock: the first steps of a fresh model pay allocator,
# kernel-selection and optimiser-state costs that (a), timed in its second epoch, has already paid.
# One suffices on CPU (and costs ~3 s with ResNet-18 there); CUDA adds context, cuBLAS/cuDNN and autocast
# set-up spread over the first few launches.
WARMUP_STEPS = {"cpu": 1, "cuda": 3}
CEILING = "(c) ceiling: fixed batch"
PROJECT = "(a) project engine.train()"
TRANSFORM = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


@dataclass(frozen=True)
class Case:
    """One (model, device) measurement: every loop runs `images` training images, best of `repeats`."""
    model: str  # a MODELS key
    model_cfg: object
    device: torch.device
    images: int
    repeats: int


class PILDataset(Dataset):
    """What torchvision.datasets.CIFAR10 does per item: uint8 HWC array -> PIL image -> transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images.transpose(0, 2, 3, 1), labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def recipe(batch_size: int, images: int) -> TrainConfig:
    # Constant lr and no test evaluation: only the training steps are timed, and the schedule's per-step
    # cost is the same whichever schedule it is.
    return TrainConfig.model_validate({
        "epochs": 2, "batch_size": batch_size, "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
        "schedule": {"name": "constant"}, "train_subset": images, "val_subset": 256})


def synced_clock(device: torch.device) -> float:
    """perf_counter once the device is idle: CUDA kernels run asynchronously to the host."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def fixed_batch(batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A normalised-looking float batch and labels, made once: the ceiling does no data work per step."""
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch_size, 3, 32, 32, generator=g).to(device),
            torch.randint(0, 10, (batch_size,), generator=g).to(device))


def other_layout(device: torch.device) -> tuple[str, Callable]:
    """The memory layout the engine does not use on `device`, as a to_memory_format stand-in."""
    fmt, name = ((torch.contiguous_format, "contiguous NCHW") if settings_for(device).channels_last
                 else (torch.channels_last, "channels_last"))
    return name, lambda x, device: x.to(memory_format=fmt)


def train_step(case: Case, batch_size: int, layout: Callable = to_memory_format, use_compile: bool = False,
               arithmetic: str = "engine") -> Callable[[torch.Tensor, torch.Tensor], None]:
    """engine.train's step for (b) and (c): same layout, autocast, optimiser and loss; warmed up.
    `arithmetic`: "engine" (the engine's precision here), or "bf16" / "fp32" whatever the engine uses."""
    precision = {"engine": lambda: autocast(case.device), "fp32": contextlib.nullcontext,
                 "bf16": lambda: torch.autocast(case.device.type, dtype=torch.bfloat16)}[arithmetic]
    model = layout(build_seeded(case.model_cfg, 0).to(case.device), case.device)
    optimizer = make_optimizer(model, recipe(batch_size, case.images).optimizer, case.device)
    forward = torch.compile(model) if use_compile else model

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with precision():
            loss = F.cross_entropy(forward(layout(x, case.device)).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    x, y = fixed_batch(batch_size, case.device)
    for _ in range(WARMUP_STEPS[case.device.type]):
        step(x, y)
    return step


def project_loop(case: Case, data: Splits, batch_size: int) -> float:
    result = engine.train(build_seeded(case.model_cfg, 0), data, recipe(batch_size, case.images),
                          device=case.device, run=f"bench-{case.model}", evaluate_test=False)
    # The second epoch's training time (engine.train synchronises CUDA before reading its clock).
    return (case.images // batch_size) * batch_size / result.history[-1]["epoch_seconds"]


def dataloader_loop(case: Case, host: Split, batch_size: int, workers: int) -> float:
    dataset = PILDataset(host.images[:case.images].numpy(), host.labels[:case.images].numpy(), TRANSFORM)
    cuda = case.device.type == "cuda"
    # pin_memory: page-locked batches, which is what lets the non_blocking copies below overlap compute.
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        pin_memory=cuda)
    step = train_step(case, batch_size)
    seen, started = 0, synced_clock(case.device)
    for x, y in loader:
        step(x.to(case.device, non_blocking=True), y.to(case.device, non_blocking=True))
        seen += len(y)
    return seen / (synced_clock(case.device) - started)


def ceiling_loop(case: Case, batch_size: int, layout: Callable = to_memory_format,
                 use_compile: bool = False, arithmetic: str = "engine") -> float:
    step = train_step(case, batch_size, layout, use_compile, arithmetic)
    x, y = fixed_batch(batch_size, case.device)
    steps = case.images // batch_size
    started = synced_clock(case.device)
    for _ in range(steps):
        step(x, y)
    return steps * batch_size / (synced_clock(case.device) - started)


def load_host_data(path: str, images: int) -> Splits:
    """The splits in host memory; (b) reads them there, (a) gets a copy on its device."""
    if Path(path, "meta.json").is_file():
        return load_splits(path, "cpu")
    g = torch.Generator().manual_seed(0)
    fake = Split(torch.randint(0, 256, (images, 3, 32, 32), generator=g, dtype=torch.uint8),
                 torch.randint(0, 10, (images,), generator=g))
    return Splits(fake, fake, fake, meta={"source": "random pixels"})


def loops_for(case: Case, data: Splits, host: Split, args) -> dict[str, Callable[[], float]]:
    """The loops of one case, the reference ceiling first (it also warms the process up for the rest)."""
    bs = args.batch_size
    layout_name, layout = other_layout(case.device)
    loops = {CEILING: lambda: ceiling_loop(case, bs),
             f"(c) ceiling: fixed batch, {layout_name}": lambda: ceiling_loop(case, bs, layout)}
    if args.compile:
        loops["(c) ceiling: fixed batch, torch.compile"] = lambda: ceiling_loop(case, bs, use_compile=True)
    other = "fp32" if autocast_dtype(case.device) else "bf16"  # the precision the engine does not use here
    loops[f"(c) ceiling: fixed batch, {other}"] = lambda: ceiling_loop(case, bs, arithmetic=other)
    loops[PROJECT] = lambda: project_loop(case, data, bs)
    pinned = ", pinned" if case.device.type == "cuda" else ""
    for w in args.workers:
        loops[f"(b) DataLoader + torchvision, {w} workers{pinned}"] = (
            lambda w=w: dataloader_loop(case, host, bs, w))
    return loops


def best_of(loops: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    # The loops interleaved, so a burst of load from elsewhere hits one sample, not one loop.
    samples = {name: [] for name in loops}
    for _ in range(repeats):
        for name, loop in loops.items():
            samples[name].append(loop())
    return {name: max(s) for name, s in samples.items()}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"],
                        default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--images", type=int, help="training images per loop, every case (default: per case)")
    parser.add_argument("--repeats", type=int, help="measurements per loop, the best reported (default: per case)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to try")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--csv", help="also write the table to this CSV file")
    parser.add_argument("--compile", action="store_true", help="add a ceiling row with torch.compile(model)")
    args = parser.parse_args()
    if "cuda" in args.devices and not torch.cuda.is_available():
        parser.error("--devices cuda: no CUDA device available")
    return args


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    use_precision(load_params().precision)  # the engine's precision as params.yaml sets it
    sizes = {key: (args.images or n, args.repeats or r) for key, (n, r) in DEFAULT_SIZES.items()}
    host = load_host_data(args.data, max(sizes[m, d][0] for m in args.models for d in args.devices))
    model_cfgs = {m: MODELS[m]() for m in args.models}
    # At most the whole training split, so the image counts printed are the ones trained on.
    cases = [Case(m, model_cfgs[m], torch.device(d), min(sizes[m, d][0], len(host.train)), sizes[m, d][1])
             for d in args.devices for m in args.models]
    on_device = {d: host if d == "cpu" else host.to(torch.device(d)) for d in args.devices}

    rows, verdicts, notes = [], [], []
    for case in cases:
        best = best_of(loops_for(case, on_device[case.device.type], host.train, args), case.repeats)
        rows += [{"model": case.model, "device": case.device.type, "loop": name, "images_per_second": ips,
                  "ratio_to_ceiling": ips / best[CEILING]} for name, ips in best.items()]
        ratio = best[PROJECT] / best[CEILING]
        verdicts.append(f"{case.model} on {case.device.type}: engine.train at {ratio:.2f} of the ceiling: "
                        + ("NOT within 5%" if ratio < 0.95 else "within 5%" if ratio <= 1.05 else
                           "above it by more than 5%, so the timings are noisy (other load?): rerun"))
        params = count_parameters(build_seeded(case.model_cfg, 0))
        notes.append(f"{case.model} ({case.model_cfg.name}, {params:,} params) on {case.device.type}: "
                     f"{case.images:,} images per loop, best of {case.repeats}")

    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    shown = table.assign(images_per_second=table["images_per_second"].map("{:,.0f}".format),
                         ratio_to_ceiling=table["ratio_to_ceiling"].map("{:.2f}".format))
    bf16 = ", ".join(cpu_bf16_instructions()) or "no bf16 instructions"
    engine_precision = "; ".join(f"{d}: {precision_record(torch.device(d))['precision']}" for d in args.devices)
    print("Hardware: " + "; ".join(f"{d}: {hardware(torch.device(d))}" for d in args.devices)
          + f" | CPU bf16: {bf16} | engine precision: {engine_precision} | torch {torch.__version__}"
          + f" | batch {args.batch_size} | data: {host.meta['source']}")
    print("\n".join(notes))
    print(shown.to_markdown(index=False))
    print("\n".join(verdicts))
    print(f"benchmark wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
