"""An image file as CIFAR-10 sees one: the one preprocessing rule for images from outside the dataset.

The rule: the image is turned upright (its EXIF orientation, as viewers show it), converted to RGB (an alpha
channel is dropped, grey is repeated), centre-cropped to the largest centred square, and resized to 32x32 with
bicubic resampling (which antialiases when shrinking); a 32x32 RGB image is left as it is, pixel for pixel. The
result is uint8 like the prepared dataset, so it takes exactly the normalisation training uses
(augment.normalize) and nothing else.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.errors import DataError
from . import IMAGE_SIZE


def square_centre(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square of a width x height image, as a PIL box (left, top, right, bottom)."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """The image file at `path` (PNG, JPEG or any format Pillow reads) -> uint8 [1, 3, 32, 32], by the rule in
    the module docstring. A missing file or one Pillow cannot read is a DataError naming it."""
    path = Path(path)
    if not path.is_file():
        what = "a folder, not an image file" if path.is_dir() else "no such image file"
        raise DataError(f"{path}: {what}; give the path of a PNG or JPEG image")
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not an image Pillow can read ({type(exc).__name__}: {exc}); "
                        f"give a PNG or JPEG file") from None
    image = image.crop(square_centre(*image.size))
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):  # a CIFAR-sized image is not resampled at all
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.uint8)  # [H, W, 3]
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()
