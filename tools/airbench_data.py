"""CIFAR-10 in the form airbench trains on: `<out>/train.pt` and `<out>/test.pt`, from an archive (or extracted
folder) in the official layout, the JPEG stand-in included.

    python tools/airbench_data.py data/raw/cifar-10-python.tar.gz [--out cifar10]

airbench's CifarLoader(path) loads `<path>/train.pt` / `<path>/test.pt` when they exist instead of
downloading, each `{'images': uint8 N x 32 x 32 x 3 (HWC, as torchvision's CIFAR10.data), 'labels': int64 N,
'classes': the ten names}`; its train94()/train96() read the relative folder `cifar10`, hence the default.
The archive is read and checked by the project's own reader (layout, shapes, labels, class names, balance),
so airbench sees exactly the images the study trains on, in the official order (data_batch_1..5, then
test_batch). Used by the data calibration (benchmarks/airbench_calibration.py), which tools/gpu_check.sh
and tools/gpu_study.sh run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from cifar10_study.core.errors import StudyError
from cifar10_study.data import CLASSES
from cifar10_study.data.cifar10 import OFFICIAL_BATCH_IMAGES, read_cifar10


def airbench_split(images, labels) -> dict:
    """One split as airbench's CifarLoader stores it, from the project's arrays (`images` uint8 N x 3 x 32 x 32,
    channels first as the official rows unpack; `labels` N ints): images channels last, as torchvision's."""
    return {"images": torch.from_numpy(images).permute(0, 2, 3, 1).contiguous(),
            "labels": torch.from_numpy(labels).long(), "classes": list(CLASSES)}


def write_airbench_data(source: str | Path, out: str | Path, batch_images: int = OFFICIAL_BATCH_IMAGES) -> None:
    (train_images, train_labels), (test_images, test_labels) = read_cifar10(source, batch_images)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, split in (("train", (train_images, train_labels)), ("test", (test_images, test_labels))):
        tmp = out / f".{name}.pt.tmp"  # renamed when complete: a cut-off run leaves no half file for airbench
        torch.save(airbench_split(*split), tmp)
        tmp.replace(out / f"{name}.pt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="cifar-10-python.tar.gz or its extracted folder (official layout)")
    parser.add_argument("--out", default="cifar10", help="folder for train.pt and test.pt (default: cifar10)")
    parser.add_argument("--batch-images", type=int, default=OFFICIAL_BATCH_IMAGES,
                        help="images per batch file (CIFAR-10's 10,000; only tests change it)")
    args = parser.parse_args(argv)
    try:
        write_airbench_data(args.source, args.out, args.batch_images)
    except StudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"airbench_data: wrote {args.out}/train.pt and {args.out}/test.pt from {args.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
