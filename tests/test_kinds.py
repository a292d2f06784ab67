"""Preprocessing kinds are the extension point (fmnist.runtime.kind): a new kind is one class and one registry
line, and classify, live's frame path, photo folders and the metadata reader take it without a change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest
from crafted import meta_text, model
from photo_tree import make_tree

from fmnist.core.errors import ModelError, PreprocessMismatch
from fmnist.evaluation.photo_set import load_photos
from fmnist.runtime import preparation
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.image import Prepared, to_bgr8
from fmnist.runtime.kind import Preparation
from fmnist.runtime.video.scene import DirectPreprocess, ScenePreprocess, frame_preprocess

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "pants.jpg"


@dataclass(frozen=True)
class Thumbnail(Preparation):
    """A toy third kind: the whole photo, grey, squeezed to size x size; x = pixel / 255."""

    size: int = 16

    kind: ClassVar[str] = "thumbnail"
    version: ClassVar[str] = "thumbnail-1"
    channels: ClassVar[int] = 1
    segments: ClassVar[bool] = False
    int8_method: ClassVar[str] = "minmax"
    int8_activations: ClassVar[str] = "uint8"
    int8_float_convs: ClassVar[int] = 0
    calib_photos: ClassVar[int] = 100

    def prepare(self, image: np.ndarray, raw: bool = False) -> Prepared:
        grey = cv2.cvtColor(to_bgr8(image), cv2.COLOR_BGR2GRAY)
        small = cv2.resize(grey, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return Prepared(small, False, False, (0, 0, image.shape[1], image.shape[0]))

    def to_input(self, images: np.ndarray) -> np.ndarray:
        return self.checked(images)[..., None].astype(np.float32) / np.float32(255)

    def record(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind, "size": self.size}

    @classmethod
    def from_fields(cls, record: dict[str, Any], where: Path | str) -> Thumbnail:
        if not isinstance(record.get("size"), int) or not 8 <= record["size"] <= 64:
            raise ModelError(f"{where}: its thumbnail record's size is {record.get('size')!r}")
        return cls(record["size"])

    @property
    def prose(self) -> str:
        return f"grey {self.size}x{self.size}, the whole photo, x = pixel / 255"

    def input_spec(self) -> dict[str, Any]:
        return {"name": "image", "shape": [None, *self.input_shape]}


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(preparation.KINDS, Thumbnail.kind, Thumbnail)  # the one registry line


def test_a_new_kind_is_one_class_and_one_registry_line(registered, tmp_path):
    record = Thumbnail(16).record()
    path = model(tmp_path / "thumb.onnx", meta_text(preprocess=record), side=16)
    classifier = Classifier(path)
    assert classifier.preparation == Thumbnail(16) and classifier.note is None
    result = classifier.classify(cv2.imread(str(PHOTO)))
    assert result.prepared.image.shape == (16, 16) and len(result.top) == 3
    # live's frame path: a kind that does not segment is prepared afresh on every frame
    assert isinstance(frame_preprocess(classifier.preparation, background=True), DirectPreprocess)
    assert isinstance(frame_preprocess(preparation.CUTOUT, background=False), ScenePreprocess)
    # photo folders: prepared as the kind says, not cached (nothing costly to keep)
    photos = load_photos(make_tree(tmp_path / "photos", per_class=2), preparation=Thumbnail(16))
    assert photos.images.shape[1:] == (16, 16) and photos.cache_hits == 0


def test_the_registry_checks_the_kind_s_version_and_fields(registered):
    with pytest.raises(PreprocessMismatch, match="version thumbnail-0"):
        preparation.from_record({"kind": "thumbnail", "version": "thumbnail-0", "size": 16}, "m.onnx")
    with pytest.raises(ModelError, match="size is 4096"):
        preparation.from_record({"kind": "thumbnail", "version": "thumbnail-1", "size": 4096}, "m.onnx")


def test_an_unregistered_kind_is_refused():
    with pytest.raises(PreprocessMismatch, match="kind 'thumbnail' this fmnist does not know"):
        preparation.from_record(Thumbnail(16).record(), "m.onnx")


def test_the_shipped_kinds_round_trip_through_their_records():
    from fmnist.runtime.crop import CentreCrop

    for made in (preparation.CUTOUT, CentreCrop(160, 127.0, 128.0)):
        assert preparation.from_record(made.record(), "m.onnx") == made
