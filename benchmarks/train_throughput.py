"""Training throughput of the Stage 1 CNN, three ways, measured in one run on the machine at hand.

(a) project:    the project's engine.train() loop (uint8 data in memory, batched crop/flip on the device)
(b) dataloader: the usual CIFAR recipe, torch.utils.data.DataLoader over PIL images with torchvision
                RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize
(c) ceiling:    forward + backward + optimiser step on one fixed, pre-made batch (no data work at all)

Usage: python benchmarks/train_throughput.py [--images 6400] [--batch-size 128] [--workers 0 2]
Uses data/prepared if present (else random pixels: throughput does not depend on content).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cifar10_study import engine
from cifar10_study.config import TrainConfig, load_params
from cifar10_study.data import MEAN, STD, Split, Splits, load_splits
from cifar10_study.engine import make_optimizer, pick_device, to_memory_format
from cifar10_study.metrics import hardware
from cifar10_study.runs import build_seeded


class PILDataset(Dataset):
    """What torchvision.datasets.CIFAR10 does per item: uint8 HWC array -> PIL image -> transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images.transpose(0, 2, 3, 1), labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def recipe(args) -> TrainConfig:
    return TrainConfig.model_validate({
        "epochs": 2, "batch_size": args.batch_size, "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
        "schedule": {"name": "constant"}, "train_subset": args.images, "val_subset": 256})


def project_loop(model_cfg, data: Splits, args, device) -> float:
    cfg = recipe(args)
    result = engine.train(build_seeded(model_cfg, 0), data, cfg, device=device, run="bench")
    # The second epoch's training time (evaluation excluded): the first one pays the warm-up costs,
    # which the ceiling loop also leaves out.
    return (args.images // cfg.batch_size) * cfg.batch_size / result.history[-1]["epoch_seconds"]


def dataloader_loop(model_cfg, data: Splits, args, device, workers: int) -> float:
    transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    n = args.images
    dataset = PILDataset(data.train.images[:n].cpu().numpy(), data.train.labels[:n].cpu().numpy(), transform)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        persistent_workers=False)
    model = to_memory_format(build_seeded(model_cfg, 0).to(device), device)
    opt = make_optimizer(model, recipe(args).optimizer, device)
    seen, started = 0, time.perf_counter()
    for x, y in loader:
        x, y = to_memory_format(x.to(device, non_blocking=True), device), y.to(device, non_blocking=True)
        with engine.autocast(device):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - started)


def ceiling_loop(model_cfg, args, device, channels_last: bool) -> float:
    model = build_seeded(model_cfg, 0).to(device)
    x = torch.randn(args.batch_size, 3, 32, 32, device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    opt = make_optimizer(model, recipe(args).optimizer, device)
    steps = args.images // args.batch_size

    def step():
        with engine.autocast(device):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * args.batch_size / (time.perf_counter() - started)


def load_data(args, device) -> Splits:
    if Path(args.data, "meta.json").is_file():
        return load_splits(args.data, device)
    g = torch.Generator().manual_seed(0)
    fake = Split(torch.randint(0, 256, (args.images, 3, 32, 32), generator=g, dtype=torch.uint8).to(device),
                 torch.randint(0, 10, (args.images,), generator=g).to(device))
    return Splits(fake, fake, fake, meta={"source": "random pixels"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6400, help="training images per measurement")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to try")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per loop; the best is reported")
    parser.add_argument("--data", default="data/prepared")
    args = parser.parse_args()

    device = pick_device()
    model_cfg = load_params().stage1.model
    data = load_data(args, device)
    # Warm-up outside the timed runs (first-call allocator and kernel selection costs).
    ceiling_loop(model_cfg, argparse.Namespace(**{**vars(args), "images": 4 * args.batch_size}), device, True)

    loops = {
        "(c) ceiling: fixed batch, channels_last": lambda: ceiling_loop(model_cfg, args, device, True),
        "(c) ceiling: fixed batch, contiguous NCHW": lambda: ceiling_loop(model_cfg, args, device, False),
        "(a) project engine.train()": lambda: project_loop(model_cfg, data, args, device),
        **{f"(b) DataLoader + torchvision transforms, {w} workers":
           (lambda w=w: dataloader_loop(model_cfg, data, args, device, w)) for w in args.workers},
    }
    # Best of `repeats`, the loops interleaved, so a burst of load from elsewhere hits one sample, not one loop.
    samples = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, loop in loops.items():
            samples[name].append(loop())
    table = pd.DataFrame([{"loop": name, "images/s": max(s)} for name, s in samples.items()])
    ceiling = table["images/s"].iloc[0]
    table["vs ceiling"] = (table["images/s"] / ceiling).map("{:.2f}".format)
    table["images/s"] = table["images/s"].map("{:,.0f}".format)
    print(f"Stage 1 baseline CNN, batch {args.batch_size}, {args.images} images per loop, best of {args.repeats}, "
          f"{hardware(device)}, torch {torch.__version__}, data: {data.meta['source']}")
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
