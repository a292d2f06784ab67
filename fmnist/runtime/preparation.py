"""Which preprocessing a model was made for, read from its metadata: one `Preparation` per model.

Two kinds exist:
- "cutout" (fmnist.runtime.preprocess): the object segmented, grey, negated, fit to 28x28; x = pixel / 255.
  The Fashion-MNIST models and the 28x28 own-label tier. A record without a kind is this one.
- "crop" (fmnist.runtime.crop): the centre square in colour at the model's size; x = (pixel - mean) / std per
  channel, RGB. The photo tier (an ImageNet backbone such as lite0).

Training records `Preparation.record()` in the run's metrics.json and export copies it into every file, so
`classify`, `live`, `evaluate` and `bench` pick the same preprocessing without being told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.errors import ModelError, PreprocessMismatch
from fmnist.core.jsonsafe import finite_number
from fmnist.core.meta import IMAGE_SIZE, INPUT_SPEC, PREPROCESSING, ModelMeta
from fmnist.runtime import crop, preprocess


@dataclass(frozen=True)
class Preparation:
    kind: str  # "cutout" or "crop"
    size: int  # the model's input side, pixels
    channels: int  # 1 (grey) or 3 (RGB)
    mean: float = 0.0  # x = (pixel - mean) / std
    std: float = 255.0

    @property
    def version(self) -> str:
        return preprocess.PREPROCESS_VERSION if self.kind == "cutout" else crop.CROP_VERSION

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.size, self.size, self.channels

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one prepared image: (28, 28) grey, or (size, size, 3) BGR."""
        return (self.size, self.size) if self.channels == 1 else (self.size, self.size, 3)

    def prepare(self, image: np.ndarray, raw: bool = False) -> preprocess.Prepared:
        """A photo array -> the uint8 image the model sees (and where it came from)."""
        if self.kind == "cutout":
            return preprocess.prepare_raw(image) if raw else preprocess.preprocess(image)
        return crop.whole(image, self.size) if raw else crop.centre_crop(image, self.size)

    def to_input(self, images: np.ndarray) -> np.ndarray:
        """(N, *image_shape) uint8 -> (N, *input_shape) float32, normalised as the model was trained."""
        images = np.asarray(images)
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"expected (N, {', '.join(map(str, self.image_shape))}) images, got {images.shape}")
        x = images[..., None] if self.channels == 1 else images[..., ::-1]  # BGR -> RGB
        return ((x.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)

    def record(self) -> dict[str, Any]:
        """What a model's metadata records about this preprocessing (as timm's pretrained config travels with the
        weights)."""
        if self.kind == "cutout":
            return preprocess.preprocess_record()
        return {"version": self.version, "kind": "crop", "size": self.size, "colour": "RGB",
                "crop": "the centre square (the short side)", "resize": "area (linear when enlarging)",
                "mean": self.mean, "std": self.std,
                "output": f"{self.size}x{self.size} RGB; x = (pixel - {self.mean:g}) / {self.std:g}",
                "steps": "EXIF rotation, alpha on white, centre square, resize, BGR to RGB, normalise"}

    @property
    def prose(self) -> str:
        """The metadata's `preprocessing` entry: the convention in words."""
        if self.kind == "cutout":
            return PREPROCESSING
        return (f"colour {self.size}x{self.size}, the centre square of the photo, RGB, "
                f"x = (pixel - {self.mean:g}) / {self.std:g}")

    def input_spec(self) -> dict[str, Any]:
        """The metadata's `input` entry."""
        if self.kind == "cutout":
            return dict(INPUT_SPEC)
        lo, hi = (0 - self.mean) / self.std, (255 - self.mean) / self.std
        return {**INPUT_SPEC, "shape": [None, *self.input_shape], "scale": 1.0 / self.std, "mean": self.mean,
                "std": self.std, "range": [lo, hi], "colour": "RGB"}


CUTOUT = Preparation("cutout", IMAGE_SIZE, 1)


def cropped(size: int, mean: float, std: float) -> Preparation:
    return Preparation("crop", int(size), 3, float(mean), float(std))


# what a crop record's fields must be: (check, the words for it). No field is defaulted: a record without one is
# not a crop fmnist made, and a guessed mean or std would give wrong labels silently.
MIN_CROP, MAX_CROP = 8, 1024  # the model's input side, pixels
MIN_STD = 0.001  # x = (pixel - mean) / std stays finite in float32


def _number_in(low: float, high: float, whole: bool = False) -> Callable[[object], bool]:
    """A check: a finite number (an int when `whole`) from low to high."""
    def check(value: object) -> bool:
        number = finite_number(value) and (isinstance(value, int) or not whole)
        return number and low <= value <= high  # type: ignore[operator]

    return check


CROP_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "size": (_number_in(MIN_CROP, MAX_CROP, whole=True), f"a whole number of pixels from {MIN_CROP} to {MAX_CROP}"),
    "mean": (_number_in(0, 255), "a pixel value from 0 to 255"),
    "std": (_number_in(MIN_STD, 255), f"a number from {MIN_STD:g} to 255"),
    "colour": (lambda v: v == "RGB", "'RGB' (the channel order the crop feeds)"),
}


def from_record(record: dict[str, Any], where: Path | str) -> Preparation:
    """The preparation a preprocessing record describes, every field checked before use: PreprocessMismatch
    (exit 4) for another kind or version, ModelError (exit 4) for a field missing or out of range."""
    if not isinstance(record, dict):
        raise ModelError(f"{where}: its preprocessing record must be a JSON object, got {record!r:.80}")
    kind = record.get("kind", "cutout")
    if kind not in ("cutout", "crop"):
        raise PreprocessMismatch(f"{where} was made for a preprocessing kind {kind!r:.40} this fmnist does not "
                                 "know; use the fmnist release that made it")
    version = CUTOUT.version if kind == "cutout" else crop.CROP_VERSION
    if str(record.get("version")) != version:
        raise PreprocessMismatch(
            f"{where} was made for preprocessing version {record.get('version')!s:.40}, but this fmnist preprocesses "
            f"with version {version}, so its labels would be wrong; train and export it again with this fmnist, "
            f"or use the fmnist release that made it")
    return CUTOUT if kind == "cutout" else _crop_from(record, where)


def _crop_from(record: dict[str, Any], where: Path | str) -> Preparation:
    """The crop a record of this version describes; ModelError naming the first field missing or out of range."""
    for name, (valid, want) in CROP_FIELDS.items():
        if not valid(record.get(name)):
            value = f"{record[name]!r:.40}" if name in record else "missing"
            raise ModelError(f"{where}: its crop preprocessing record's {name} is {value}, not {want}; train and "
                             "export it again with fmnist")
    return cropped(record["size"], record["mean"], record["std"])


def recorded(record: dict[str, Any] | None, where: Path | str) -> tuple[Preparation, str | None]:
    """The preparation a record (a file's metadata or a run's card) names, and a note when there is none (made
    before fmnist recorded it: taken as today's cut-out)."""
    if not (isinstance(record, dict) and record.get("version")):
        return CUTOUT, (f"note: {where} records no preprocessing version (exported before fmnist recorded it); "
                        f"assuming today's, version {CUTOUT.version}")
    return from_record(record, where), None


def preparation_for(meta: ModelMeta | None, path: Path) -> tuple[Preparation, str | None]:
    """The preparation an exported file's metadata names (see `recorded`)."""
    return recorded(meta.preprocess if meta else None, path)
