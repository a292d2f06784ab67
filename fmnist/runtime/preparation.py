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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.errors import PreprocessMismatch
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


def from_record(record: dict[str, Any], where: Path | str) -> Preparation:
    """The preparation a preprocessing record describes; PreprocessMismatch (exit 4) for another version."""
    kind = record.get("kind", "cutout")
    if kind not in ("cutout", "crop"):
        raise PreprocessMismatch(f"{where} was made for a preprocessing kind {kind!r} this fmnist does not know; "
                                 "use the fmnist release that made it")
    made = CUTOUT if kind == "cutout" else cropped(record.get("size", 0), record.get("mean", 0.0),
                                                     record.get("std", 1.0))
    if str(record.get("version")) != made.version:
        raise PreprocessMismatch(
            f"{where} was made for preprocessing version {record.get('version')}, but this fmnist preprocesses with "
            f"version {made.version}, so its labels would be wrong; train and export it again with this fmnist, "
            f"or use the fmnist release that made it")
    if made.size < 8 or made.std == 0:
        raise PreprocessMismatch(f"{where}: its preprocessing record is incomplete ({record!r:.120})")
    return made


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
