"""A preprocessing kind: how one family of models turns a photo into its input, and everything that follows
from it. The extension point for new preprocessing: a kind is one file with one subclass of `Preparation`, plus
one line in fmnist.runtime.preparation.KINDS (docs/architecture.md, "Extension points").

A kind owns what is specific to it, so no code outside its file asks which kind it has:
- `prepare` (a photo -> the uint8 image the model sees) and `to_input` (those images -> the float input);
- `record` (what a model's metadata says of it) and `from_fields` (the same record read back, every field checked),
  `prose` and `input_spec` (the metadata's words and input entry);
- `frame_path()`: how live turns a frame into the model's input. A kind that segments returns its
  `SegmentingFrames` (fmnist.runtime.frame_path: its work size, segment and render steps, and its own "has the scene
  moved" rule), so live segments only when the scene changes; None (the default): every frame prepared afresh;
- `caches`: whether photo folders keep its prepared images (worth it when preparing costs a segmentation);
- `test_images`: which Fashion-MNIST test images a model of this kind is judged on (fmnist.evaluation.testset
  names them: "fashion-mnist", the images as they are, or "rendered", rendered as photos at the model's size);
- its int8 defaults (`int8_method`, `int8_activations`, `int8_float_convs`) and `calib_photos`, the training
  photos an own-label run keeps to calibrate int8 on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from fmnist.runtime.frame_path import SegmentingFrames
from fmnist.runtime.image import Enough, Prepared


def per_value(images: np.ndarray, value: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """value (float32 arithmetic) of every pixel, as float32. uint8 images go through OpenCV's lookup in a table of
    its 256 results: the same numbers in one array of the batch's size, where the arithmetic on each pixel made
    several (2,000 colour squares of 160 px: 20 s that way on fresh memory, mostly page faults), and as fast for
    one frame (99 µs against 104 µs at 160 px; numpy's fancy indexing took 217 µs)."""
    if images.dtype == np.uint8 and images.size:
        table = value(np.arange(256, dtype=np.float32)).astype(np.float32, copy=False)
        return cv2.LUT(np.ascontiguousarray(images).reshape(-1, 1), table).reshape(images.shape)
    return value(images.astype(np.float32)).astype(np.float32, copy=False)


@dataclass(frozen=True)
class Preparation(ABC):
    size: int  # the model's input side, pixels

    kind: ClassVar[str]  # the record's "kind" (absent in a record: "cutout")
    version: ClassVar[str]  # bump when `prepare` changes what it returns for a photo
    channels: ClassVar[int]  # 1 (grey) or 3 (RGB)
    caches: ClassVar[bool]  # photo folders keep its prepared images (fmnist.evaluation.photo_set)
    test_images: ClassVar[str]  # the test images it is judged on: "fashion-mnist" or "rendered"
    int8_method: ClassVar[str]  # export --int8's calibration: minmax, percentile or entropy
    int8_activations: ClassVar[str]  # int8 (S8S8) or uint8 (U8S8)
    int8_float_convs: ClassVar[int]  # the first convolutions that stay float in an int8 ONNX
    calib_photos: ClassVar[int]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.size, self.size, self.channels

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one prepared image: (size, size) grey, or (size, size, 3) BGR."""
        return (self.size, self.size) if self.channels == 1 else (self.size, self.size, 3)

    @property
    def cache_key(self) -> str:
        """What a cached prepared image is valid for: this kind, version and size."""
        return f"{self.kind}-{self.version}-{self.size}"

    def checked(self, images: np.ndarray) -> np.ndarray:
        """`images` as an array of this kind's prepared images, (N, *image_shape) uint8; ValueError otherwise."""
        images = np.asarray(images)
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"expected (N, {', '.join(map(str, self.image_shape))}) images, got {images.shape}")
        return images

    def covered_by(self, short: int, long: int, raw: bool = False) -> bool:
        """Whether a photo decoded at `short` x `long` pixels (either way round) still gives `prepare` all it takes,
        so that a JPEG is decoded at a reduced scale (fmnist.runtime.image.reduction). The default, never: a kind
        decodes at full size until it says what it needs."""
        return False

    def enough(self, raw: bool = False) -> Enough:
        """covered_by as read_image takes it: the rule for this kind's photos, with or without --raw."""
        return lambda short, long: self.covered_by(short, long, raw)

    def frame_path(self) -> SegmentingFrames[Any] | None:
        """How live prepares frames for this kind: its SegmentingFrames when it segments (then only when the scene
        changes), or None to prepare every frame afresh with `prepare`."""
        return None

    @abstractmethod
    def prepare(self, image: np.ndarray, raw: bool = False) -> Prepared:
        """A photo array -> the uint8 image the model sees (and where it came from). `raw`: the photo already
        looks like the model's input; only convert and resize."""

    @abstractmethod
    def to_input(self, images: np.ndarray) -> np.ndarray:
        """(N, *image_shape) uint8 -> (N, *input_shape) float32, normalised as the model was trained."""

    @abstractmethod
    def record(self) -> dict[str, Any]:
        """What a model's metadata records about this preprocessing (as timm's pretrained config travels with
        the weights); `from_fields` reads it back."""

    @classmethod
    @abstractmethod
    def from_fields(cls, record: dict[str, Any], where: Path | str) -> Preparation:
        """The preparation a record of this kind and version describes; ModelError naming the first field that is
        missing or out of range (no field is ever defaulted: a guess would give wrong labels silently)."""

    @property
    @abstractmethod
    def prose(self) -> str:
        """The metadata's `preprocessing` entry: the convention in words."""

    @abstractmethod
    def input_spec(self) -> dict[str, Any]:
        """The metadata's `input` entry."""
