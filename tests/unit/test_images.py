"""Images by their real range: every PIL mode becomes 8-bit RGB by what its values mean (16-bit and float grey
scaled, palette looked up, alpha dropped, colour modes converted), or is refused with one line naming the file and
the mode. Each image is 32x32, so it is read pixel for pixel, and its file opens as the mode the case names."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from cifar10_study import predict
from cifar10_study.core.errors import DataError
from cifar10_study.core.fileio import write_json
from cifar10_study.core.layout import RunFiles
from cifar10_study.data import images
from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.training.train_run import save_weights

SIDE = 32  # CIFAR-sized: not resampled
PALETTE = [10, 20, 30, 200, 100, 0]  # index 0, index 1
GREYS = [0, 128, 255]


def tiled(values, dtype) -> np.ndarray:
    """[SIDE, SIDE, ...]: the pixels repeat `values` in order, row by row."""
    values = np.asarray(values)
    repeated = np.resize(values, (SIDE * SIDE, *values.shape[1:])).reshape(SIDE, SIDE, *values.shape[1:])
    return repeated.astype(dtype)  # after np.resize, which would drop a byte order


def image(mode: str, values, dtype=np.uint8) -> Image.Image:
    """A SIDE x SIDE image of `mode` whose raw pixels repeat `values` (a palette mode gets PALETTE)."""
    pixels = tiled(values, dtype)
    made = Image.frombytes(mode, (SIDE, SIDE), (np.packbits(pixels) if mode == "1" else pixels).tobytes())
    if mode in ("P", "PA"):
        made.putpalette(PALETTE)
    return made


def saved(name: str, mode: str, values, dtype=np.uint8, **options) -> Callable[[Path], Path]:
    """Writes image(mode, values, dtype) to tmp_path/name with Pillow's save options."""
    def write(folder: Path) -> Path:
        image(mode, values, dtype).save(folder / name, **options)
        return folder / name
    return write


def premultiplied(write: Callable[[Path], Path]) -> Callable[[Path], Path]:
    """A TIFF written by `write` with its alpha marked premultiplied (ExtraSamples 1, 'associated'; Pillow writes
    2, 'unassociated', and has no option for it), so a reader divides the colour by the alpha."""
    unassociated = struct.pack("<HHIH", 338, 3, 1, 2)  # tag ExtraSamples, SHORT, count 1, value 2

    def write_premultiplied(folder: Path) -> Path:
        path = write(folder)
        data = path.read_bytes()
        assert data.count(unassociated) == 1
        path.write_bytes(data.replace(unassociated, struct.pack("<HHIH", 338, 3, 1, 1)))
        return path
    return write_premultiplied


def pgm_16bit(values) -> Callable[[Path], Path]:
    """A 16-bit PGM (maxval 65535, big-endian samples)."""
    def write(folder: Path) -> Path:
        path = folder / "grey.pgm"
        path.write_bytes(f"P5\n{SIDE} {SIDE}\n65535\n".encode() + tiled(values, ">u2").tobytes())
        return path
    return write


def png_16bit_rgb(values) -> Callable[[Path], Path]:
    """A 16-bit RGB PNG (Pillow reads but cannot write one)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def write(folder: Path) -> Path:
        rows = b"".join(b"\0" + row.tobytes() for row in tiled(values, ">u2"))  # filter type 0 per row
        header = struct.pack(">IIBBBBB", SIDE, SIDE, 16, 2, 0, 0, 0)  # 16 bits, colour type 2 (RGB)
        path = folder / "rgb16.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                         + chunk(b"IEND", b""))
        return path
    return write


# case -> (writes the file, the mode Pillow opens it as, the RGB of each pixel value in order; a number is grey)
FILES = {
    "16-bit grey PNG": (saved("g.png", "I;16", [0, 32768, 65535], "<u2"), "I;16", GREYS),
    "16-bit big-endian grey TIFF": (saved("g.tif", "I;16B", [0, 257, 32768, 65535], ">u2"), "I;16B",
                                    [0, 1, 128, 255]),
    "16-bit grey PGM": (pgm_16bit([0, 32768, 65535]), "I", GREYS),
    "32-bit integer TIFF in 0..65535": (saved("i.tif", "I", [0, 32768, 65535], np.int32), "I", GREYS),
    "float TIFF": (saved("f.tif", "F", [0.0, 0.5, 1.0, 0.25], np.float32), "F", [*GREYS, 64]),
    "1-bit PNG": (saved("b.png", "1", [0, 1]), "1", [0, 255]),
    "grey PNG": (saved("l.png", "L", [0, 77, 255]), "L", [0, 77, 255]),
    "16-bit RGB PNG": (png_16bit_rgb([[65535, 32768, 0]]), "RGB", [(255, 128, 0)]),
    "RGB PNG with a transparent colour": (saved("t.png", "RGB", [[1, 2, 3], [9, 8, 7]], transparency=(1, 2, 3)),
                                          "RGB", [(1, 2, 3), (9, 8, 7)]),
    "palette PNG": (saved("p.png", "P", [0, 1]), "P", [(10, 20, 30), (200, 100, 0)]),
    "palette PNG with a transparent index": (saved("p.png", "P", [0, 1], transparency=0), "P",
                                             [(10, 20, 30), (200, 100, 0)]),
    "palette GIF with a transparent index": (saved("p.gif", "P", [0, 1], transparency=0), "P",
                                             [(10, 20, 30), (200, 100, 0)]),
    "palette + alpha TIFF": (saved("pa.tif", "PA", [[0, 0], [1, 255]]), "PA", [(10, 20, 30), (200, 100, 0)]),
    "grey + alpha PNG": (saved("la.png", "LA", [[77, 0], [200, 255]]), "LA", [77, 200]),
    "premultiplied grey + alpha TIFF": (premultiplied(saved("la.tif", "LA", [[100, 128], [0, 0], [200, 255]])),
                                        "La", [199, 0, 200]),
    "RGBA PNG": (saved("a.png", "RGBA", [[1, 2, 3, 0], [200, 100, 50, 255]]), "RGBA", [(1, 2, 3), (200, 100, 50)]),
    "premultiplied RGBA TIFF": (premultiplied(saved("a.tif", "RGBA", [[50, 60, 70, 128], [200, 100, 50, 255]])),
                                "RGBA", [(99, 119, 139), (200, 100, 50)]),
    "CMYK TIFF": (saved("c.tif", "CMYK", [[255, 0, 0, 0], [0, 0, 0, 255], [0, 0, 0, 0]]), "CMYK",
                  [(0, 255, 255), 0, 255]),
    "CMYK JPEG": (saved("c.jpg", "CMYK", [[255, 0, 0, 0]], quality=100), "CMYK", [(0, 255, 255)]),
    "YCbCr TIFF": (saved("y.tif", "YCbCr", [[128, 128, 128], [76, 85, 255]]), "YCbCr", [128, (254, 0, 0)]),
    # CIELAB bytes as a file stores them: L 0..255 for 0..100, a and b signed (0, 0 is neutral grey).
    "CIELAB TIFF": (saved("lab.tif", "LAB", [[128, 0, 0], [255, 0, 0]]), "LAB", [119, (254, 255, 254)]),
}
# Modes no Pillow reader opens a file as, converted in memory by the same rule.
IN_MEMORY = {
    "I;16L": (image("I;16L", [0, 32768, 65535], "<u2"), GREYS),
    "I;16N": (image("I;16N", [0, 32768, 65535], np.uint16), GREYS),
    "RGBa": (image("RGBa", [[50, 60, 70, 128], [200, 100, 50, 255]]), [(99, 119, 139), (200, 100, 50)]),
    "RGBX": (image("RGBX", [[1, 2, 3, 0]]), [(1, 2, 3)]),
    "HSV": (image("HSV", [[0, 255, 255], [85, 255, 128]]), [(255, 0, 0), (0, 128, 0)]),
}


def expected(colours) -> torch.Tensor:
    """uint8 [3, SIDE, SIDE]: each pixel the next of `colours` (a number is grey), in order."""
    rgb = [colour if isinstance(colour, tuple) else (colour,) * 3 for colour in colours]
    return torch.from_numpy(tiled(rgb, np.uint8)).permute(2, 0, 1)


@pytest.mark.parametrize("case", FILES)
def test_each_mode_is_read_by_its_range(case, tmp_path):
    write, mode, colours = FILES[case]
    path = write(tmp_path)
    with Image.open(path) as opened:
        assert opened.mode == mode
    assert torch.equal(images.read_image(path)[0], expected(colours))


@pytest.mark.parametrize("mode", IN_MEMORY)
def test_modes_no_reader_opens_are_converted_by_the_same_rule(mode, tmp_path):
    made, colours = IN_MEMORY[mode]
    assert made.mode == mode
    converted = images.to_rgb(made, tmp_path / "x")
    assert converted.mode == "RGB" and torch.equal(torch.from_numpy(np.array(converted)).permute(2, 0, 1),
                                                   expected(colours))


def test_every_pillow_mode_has_a_rule():
    assert set(images.TO_RGB) == {"1", "L", "P", "LA", "La", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
                                  "HSV", "LAB", "I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


REFUSED = {  # case -> (writes the file, what the line says besides the file and the mode)
    "float above 1": (saved("f.tif", "F", [0.5, 1.5], np.float32), "0 (black) to 1 (white), but this image holds "
                                                                   "values from 0.5 to 1.5"),
    "float below 0": (saved("f.tif", "F", [-0.25, 0.5], np.float32), "values from -0.25 to 0.5"),
    "float NaN": (saved("f.tif", "F", [0.5, np.nan], np.float32), "nan"),
    "float infinity": (saved("f.tif", "F", [0.5, np.inf], np.float32), "to inf"),
    "integer above 65535": (saved("i.tif", "I", [0, 70000], np.int32), "0 (black) to 65535 (white), but this "
                                                                       "image holds values from 0 to 70000"),
    "negative integer": (saved("i.tif", "I", [-1, 100], np.int32), "values from -1 to 100"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_value_out_of_its_modes_range_is_refused_in_one_line(case, tmp_path):
    write, says = REFUSED[case]
    path = write(tmp_path)
    mode = Image.open(path).mode
    with pytest.raises(DataError) as caught:
        images.read_image(path)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: image mode {mode!r}"), message
    assert says in message and message.endswith("save it as an 8-bit RGB PNG or JPEG"), message


def test_a_mode_without_a_rule_is_refused_in_one_line(tmp_path, monkeypatch):
    path = saved("lab.tif", "LAB", [[128, 0, 0]])(tmp_path)
    monkeypatch.delitem(images.TO_RGB, "LAB")  # as any mode a later Pillow adds
    with pytest.raises(DataError, match=r"^\S+lab\.tif: image mode 'LAB' has no known conversion to 8-bit RGB; "
                                        r"save it as an 8-bit RGB PNG or JPEG$"):
        images.read_image(path)


def test_predict_refuses_an_out_of_range_image_with_one_error_line(tmp_path, capsys):
    model = BaselineCNNConfig(name="baseline_cnn", channels=[4], hidden=8)
    config = {"model": model.model_dump(), "train": {
        "epochs": 1, "batch_size": 8, "optimizer": {"name": "sgd", "lr": 0.1}, "schedule": {"name": "cosine"}}}
    files = RunFiles(tmp_path / "run")
    files.folder.mkdir()
    write_json(files.info, {"config": config})
    save_weights(files.weights, model.build(), config)
    good = saved("good.png", "L", [77])(tmp_path)
    bad = saved("bad.tif", "F", [0.5, 2.0], np.float32)(tmp_path)
    with pytest.raises(SystemExit) as exited:
        predict.main([str(files.folder), str(good), str(bad)])
    out = capsys.readouterr()
    assert exited.value.code == 2 and out.out == ""
    errors = [line for line in out.err.splitlines() if line.startswith("error:")]  # a note may come before
    assert len(errors) == 1 and out.err.endswith(errors[0] + "\n"), out.err
    assert errors[0].startswith(f"error: {bad}: image mode 'F' is read as 0 (black) to 1 (white)"), out.err
