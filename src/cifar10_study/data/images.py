"""An image file as CIFAR-10 sees one: the one preprocessing rule for images from outside the dataset.

The rule: the image is turned upright (its EXIF orientation, as viewers show it), converted to 8-bit RGB by the
range of its PIL mode (below), centre-cropped to the largest centred square, and resized to 32x32 with bicubic
resampling (which antialiases when shrinking); a 32x32 RGB image is left as it is, pixel for pixel. The result is
uint8 like the prepared dataset, so it takes exactly the normalisation training uses (augment.normalize) and
nothing else.

Modes, by what their values mean (TO_RGB):
- 8-bit modes are converted by Pillow: grey ("L", "1") is repeated, a palette ("P") is looked up, and "CMYK",
  "YCbCr", "HSV" and "LAB" (CIELAB, D50) are converted as colours to RGB.
- Alpha is dropped ("RGBA", "LA", "PA", and a palette or colour with a transparent entry): each pixel keeps the
  colour it stores, however transparent, as CIFAR-10 has no transparency. Premultiplied alpha ("RGBa", "La") is
  divided out first, so a pixel keeps its own colour there too.
- Numeric grey is scaled from its full range to 0..255, rounded half up: integers ("I;16", "I;16B", "I;16L",
  "I;16N", and "I", as Pillow opens 16-bit PGM and 32-bit integer TIFF files) as 0..65535, so 32768 is 128; float
  ("F") as 0..1, so 0.5 is 128. A value outside that range, or a float that is not finite, has no known meaning.
Such a value, or a mode not listed, is refused: a one-line DataError naming the file and the mode.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.errors import DataError
from . import IMAGE_SIZE

RESAVE = "save it as an 8-bit RGB PNG or JPEG"
# Each PIL mode -> how it becomes 8-bit RGB (the rule above): a mode name is the mode Pillow converts it to on the
# way to RGB, a number the full scale of a one-channel numeric mode (that value white, 0 black). Any other mode is
# refused.
TO_RGB: dict[str, str | float] = {
    **dict.fromkeys(("1", "L", "P", "LA", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV", "LAB"), "RGB"),
    "La": "LA",  # Pillow divides premultiplied alpha out only on the way to LA
    **dict.fromkeys(("I;16", "I;16B", "I;16L", "I;16N", "I"), 65535),
    "F": 1.0,
}


def square_centre(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square of a width x height image, as a PIL box (left, top, right, bottom)."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def to_rgb(image: Image.Image, path: Path) -> Image.Image:
    """`image`, read from the file at `path`, in 8-bit RGB by the range of its mode (TO_RGB). A mode with no known
    range, or a value outside its mode's range, is a DataError naming the file and the mode."""
    how = TO_RGB.get(image.mode)
    if how is None:
        raise DataError(f"{path}: image mode {image.mode!r} has no known conversion to 8-bit RGB; {RESAVE}")
    if isinstance(how, str):
        return image.convert(how).convert("RGB")
    values = np.asarray(image, dtype=np.float64)
    low, high = values.min(), values.max()
    if not 0 <= low <= high <= how:  # also false for NaN
        raise DataError(f"{path}: image mode {image.mode!r} is read as 0 (black) to {how:g} (white), but this image "
                        f"holds values from {low:g} to {high:g}; {RESAVE}")
    return Image.fromarray(np.floor(values * 255 / how + 0.5).astype(np.uint8)).convert("RGB")


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """The image file at `path` (PNG, JPEG or any format Pillow reads) -> uint8 [1, 3, 32, 32], by the rule in
    the module docstring. A missing file or one Pillow cannot read is a DataError naming it."""
    path = Path(path)
    if not path.is_file():
        what = "a folder, not an image file" if path.is_dir() else "no such image file"
        raise DataError(f"{path}: {what}; give the path of a PNG or JPEG image")
    try:
        with Image.open(path) as opened:
            image = to_rgb(ImageOps.exif_transpose(opened), path)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not an image Pillow can read ({type(exc).__name__}: {exc}); "
                        f"give a PNG or JPEG file") from None
    image = image.crop(square_centre(*image.size))
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):  # a CIFAR-sized image is not resampled at all
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.uint8)  # [H, W, 3]
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()
