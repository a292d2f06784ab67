"""The centre-crop kind (`CentreCrop`): photo -> what an ImageNet backbone looks at, the centre square of the
photo in colour, resized to the model's size; x = (pixel - mean) / std, RGB. The photo tier's preprocessing
(docs/your-own-classes.md): no segmentation, so it costs a resize.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from fmnist.core.errors import ModelError
from fmnist.core.jsonsafe import finite_number
from fmnist.core.meta import INPUT_BASE
from fmnist.runtime.image import ImageError, Prepared, shrink, to_bgr8
from fmnist.runtime.kind import Preparation, per_value

CROP_VERSION = "crop-1"  # bump when `centre_crop` changes what it returns for a photo
# A JPEG is decoded at libjpeg's reduced scale only while its short side stays this many times the model's input:
# the area shrink then still averages, as from a full decode. The shipped photo model on the validation photos
# (400x533): at 1/2 (200 px, 1.25x), strict 91.9 -> 91.2 %; upscaled to 1000x1333, at 1/4 (250 px, 1.56x), strict
# 0.54 pp (one photo of 186) and lenient 0.34 pp below the full decode's (docs/scale.md)
DECODE_MARGIN = 1.5


def centre_square(width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, side, side): the largest centred square."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side, side


def _resized(image: np.ndarray, size: int) -> np.ndarray:
    """Any photo array -> BGR uint8, size x size (area interpolation when shrinking)."""
    if max(image.shape[:2]) > 4 * size:  # shrink at its own depth first: cheaper on a big photo
        image = shrink(image, 2 * size).small
    bgr = to_bgr8(image)
    grows = bgr.shape[0] < size or bgr.shape[1] < size
    return cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR if grows else cv2.INTER_AREA)


def _height_width(image: np.ndarray) -> tuple[int, int]:
    """An image array's height and width; ImageError for an array that is no image."""
    if image.ndim not in (2, 3) or image.size == 0:
        raise ImageError(f"not an image array: shape {image.shape}")
    return image.shape[0], image.shape[1]


# A picture whose grey levels spread less than this (standard deviation) shows nothing: a blank page, a bare wall,
# a covered lens. Every one of the 3,409 clothing photos' centre squares spreads by 7.3 or more.
EMPTY_STD = 4.0


def _prepared(bgr: np.ndarray, box: tuple[int, int, int, int]) -> Prepared:
    empty = float(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).std()) < EMPTY_STD
    return Prepared(bgr, False, empty, box)


def centre_crop(image: np.ndarray, size: int) -> Prepared:
    """The centre square of a photo array (as read_image or a camera gives it), BGR uint8 size x size; empty when
    it shows nothing (EMPTY_STD)."""
    h, w = _height_width(image)
    x, y, side, _ = centre_square(w, h)
    return _prepared(_resized(image[y : y + side, x : x + side], size), (x, y, side, side))


def whole(image: np.ndarray, size: int) -> Prepared:
    """--raw: the whole picture squeezed to size x size, no crop."""
    h, w = _height_width(image)
    return _prepared(_resized(image, size), (0, 0, w, h))


MIN_SIZE, MAX_SIZE = 8, 1024  # the model's input side, pixels
MIN_STD = 0.001  # x = (pixel - mean) / std stays finite in float32


def _number_in(low: float, high: float, whole: bool = False) -> Callable[[object], bool]:
    """A check: a finite number (an int when `whole`) from low to high."""
    def check(value: object) -> bool:
        number = finite_number(value) and (isinstance(value, int) or not whole)
        return number and low <= value <= high  # type: ignore[operator]

    return check


# what a crop record's fields must be: (check, the words for it)
FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "size": (_number_in(MIN_SIZE, MAX_SIZE, whole=True), f"a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}"),
    "mean": (_number_in(0, 255), "a pixel value from 0 to 255"),
    "std": (_number_in(MIN_STD, 255), f"a number from {MIN_STD:g} to 255"),
    "colour": (lambda v: v == "RGB", "'RGB' (the channel order the crop feeds)"),
}


@dataclass(frozen=True)
class CentreCrop(Preparation):
    """The centre square in colour at the model's size, normalised per channel; no segmentation."""

    mean: float = 127.0
    std: float = 128.0

    kind: ClassVar[str] = "crop"
    version: ClassVar[str] = CROP_VERSION
    channels: ClassVar[int] = 3
    caches: ClassVar[bool] = False  # nothing costly to keep: a crop and a resize
    test_images: ClassVar[str] = "rendered"  # a colour model: the test images rendered as photos at its size
    # Lite0 at 160 px on 341 held-out photos: minmax lost 2 photos, percentile 1; uint8 activations fuse every conv
    # and add (2.2 ms at batch 1 on 1 thread), int8 ones leave 14 convs in float (3.7 ms): export --int8 --search
    int8_method: ClassVar[str] = "percentile"
    int8_activations: ClassVar[str] = "uint8"
    # Lite0's stem and first depthwise convolution in float: a photo model's int8 file agreed with its fp32 ONNX on
    # 99.45 % of the rendered test images instead of 98.25 % (the stem alone: 99.05 %; the whole fine-tuned top in
    # float: 98.5 %, so the error is made at full resolution). docs/model.md, "The photo model's int8"
    int8_float_convs: ClassVar[int] = 2
    calib_photos: ClassVar[int] = 300  # 100-200x larger than a cut-out; percentile calibration takes at most 128

    def prepare(self, image: np.ndarray, raw: bool = False) -> Prepared:
        return whole(image, self.size) if raw else centre_crop(image, self.size)

    def covered_by(self, short: int, long: int, raw: bool = False) -> bool:
        # the centre square (or, raw, the whole picture) is shrunk to size x size, each pixel an area of at least
        # DECODE_MARGIN source pixels a side (DECODE_MARGIN's comment)
        return short >= DECODE_MARGIN * self.size

    def to_input(self, images: np.ndarray) -> np.ndarray:
        mean, std = np.float32(self.mean), np.float32(self.std)
        return per_value(self.checked(images)[..., ::-1], lambda x: (x - mean) / std)  # BGR -> RGB, normalised

    def record(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind, "size": self.size, "colour": "RGB",
                "crop": "the centre square (the short side)", "resize": "area (linear when enlarging)",
                "mean": self.mean, "std": self.std,
                "output": f"{self.size}x{self.size} RGB; x = (pixel - {self.mean:g}) / {self.std:g}",
                "steps": "EXIF rotation, alpha on white, centre square, resize, BGR to RGB, normalise"}

    @classmethod
    def from_fields(cls, record: dict[str, Any], where: Path | str) -> CentreCrop:
        for name, (valid, want) in FIELDS.items():
            if not valid(record.get(name)):
                value = f"{record[name]!r:.40}" if name in record else "missing"
                raise ModelError(f"{where}: its crop preprocessing record's {name} is {value}, not {want}; train and "
                                 "export it again with fmnist")
        return cls(int(record["size"]), float(record["mean"]), float(record["std"]))

    @property
    def prose(self) -> str:
        return (f"colour {self.size}x{self.size}, the centre square of the photo, RGB, "
                f"x = (pixel - {self.mean:g}) / {self.std:g}")

    def input_spec(self) -> dict[str, Any]:
        lo, hi = (0 - self.mean) / self.std, (255 - self.mean) / self.std
        return {**INPUT_BASE, "shape": [None, *self.input_shape], "scale": 1.0 / self.std, "mean": self.mean,
                "std": self.std, "range": [lo, hi], "colour": "RGB"}
