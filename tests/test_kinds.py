"""Preprocessing kinds are the extension point (fmnist.runtime.kind): a new kind is one class and one registry
line, and classify, live's frame path (segmenting or not), photo folders, the test images and the metadata reader take
it without a change."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest
from crafted import meta_text, model
from photo_tree import make_tree

from fmnist.core.errors import ModelError, PreprocessMismatch
from fmnist.evaluation import testset
from fmnist.evaluation.photo_set import load_photos
from fmnist.runtime import preparation
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.frame_path import Change, SegmentingFrames, ThumbnailRule
from fmnist.runtime.image import Prepared, Shrunk, shrink, to_bgr8
from fmnist.runtime.kind import Preparation
from fmnist.runtime.video.live import LiveConfig, run
from fmnist.runtime.video.scene import DirectPreprocess, ScenePreprocess, frame_preprocess

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "pants.jpg"
PREPARED: list[int] = []  # one entry per call of a toy kind's `prepare`
SEGMENTED: list[tuple[str, float]] = []  # per call of Blob's segment step: (its thread, the blob's centre / width)


@dataclass(frozen=True)
class Thumbnail(Preparation):
    """A toy third kind: the whole photo, grey, squeezed to size x size; x = pixel / 255."""

    size: int = 16

    kind: ClassVar[str] = "thumbnail"
    version: ClassVar[str] = "thumbnail-1"
    channels: ClassVar[int] = 1
    caches: ClassVar[bool] = False
    test_images: ClassVar[str] = "fashion-mnist"
    int8_method: ClassVar[str] = "minmax"
    int8_activations: ClassVar[str] = "uint8"
    int8_float_convs: ClassVar[int] = 0
    calib_photos: ClassVar[int] = 100

    def prepare(self, image: np.ndarray, raw: bool = False) -> Prepared:
        PREPARED.append(1)
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


BLOB_WORK = 48  # Blob's work size
BLOB_RULE = ThumbnailRule(side=12, level=40, share=0.05)  # Blob's own "has the scene moved" thresholds


def blob_mask(small: np.ndarray) -> np.ndarray:
    """The bright pixels of a shrunk picture."""
    return (cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) > 128).astype(np.uint8)


def blob_render(shrunk: Shrunk, mask: np.ndarray) -> Prepared:
    """The mask, 28x28, the blob bright on black; empty when there is none."""
    h, w = mask.shape
    image = cv2.resize(mask * np.uint8(255), (28, 28), interpolation=cv2.INTER_AREA)
    return Prepared(image, False, not mask.any(), (0, 0, int(w / shrunk.factor), int(h / shrunk.factor)))


class BlobFrames(SegmentingFrames[np.ndarray]):
    """Blob's live frame path: segment the bright pixels when its own rule says the scene moved."""

    def view(self, small: np.ndarray) -> np.ndarray:
        return BLOB_RULE.view(small)

    def change(self, before: np.ndarray | None, now: np.ndarray) -> Change:
        return BLOB_RULE.change(before, now)

    def segment(self, small: np.ndarray) -> np.ndarray:
        mask = blob_mask(small)
        assert max(small.shape[:2]) == self.work_size  # the kind's own work size, not the cut-out's
        SEGMENTED.append((threading.current_thread().name, float(np.nonzero(mask)[1].mean()) / mask.shape[1]))
        return mask

    def render(self, shrunk: Shrunk, seg: np.ndarray) -> Prepared:
        return blob_render(shrunk, seg)


@dataclass(frozen=True)
class Blob(Preparation):
    """A toy kind that segments: the bright pixels of the photo shrunk to 48 px, as a 28x28 mask; x = pixel / 255."""

    size: int = 28

    kind: ClassVar[str] = "blob"
    version: ClassVar[str] = "blob-1"
    channels: ClassVar[int] = 1
    caches: ClassVar[bool] = True
    test_images: ClassVar[str] = "fashion-mnist"
    int8_method: ClassVar[str] = "minmax"
    int8_activations: ClassVar[str] = "uint8"
    int8_float_convs: ClassVar[int] = 0
    calib_photos: ClassVar[int] = 100

    def prepare(self, image: np.ndarray, raw: bool = False) -> Prepared:
        PREPARED.append(1)
        shrunk = shrink(image, BLOB_WORK)
        return blob_render(shrunk, blob_mask(shrunk.small))

    def frame_path(self) -> BlobFrames:
        return BlobFrames(BLOB_WORK, self.image_shape)

    def to_input(self, images: np.ndarray) -> np.ndarray:
        return self.checked(images)[..., None].astype(np.float32) / np.float32(255)

    def record(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind}

    @classmethod
    def from_fields(cls, record: dict[str, Any], where: Path | str) -> Blob:
        return cls()

    @property
    def prose(self) -> str:
        return "grey 28x28, the bright pixels of the photo, x = pixel / 255"

    def input_spec(self) -> dict[str, Any]:
        return {"name": "image", "shape": [None, *self.input_shape]}


@pytest.fixture
def registered(monkeypatch):
    """The toy kinds registered as a new kind is (its one line in KINDS), and removed after."""
    for kind in (Thumbnail, Blob):
        monkeypatch.setitem(preparation.KINDS, kind.kind, kind)
    PREPARED.clear()
    SEGMENTED.clear()


def square(x: int) -> np.ndarray:
    """A 160x120 frame: a white 40 px square at column x on black."""
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[40:80, x : x + 40] = 255
    return frame


@pytest.fixture(scope="module")
def two_scenes(tmp_path_factory) -> Path:
    """A real video (MJPG): a square on the left for 6 frames, then on the right for 6."""
    path = tmp_path_factory.mktemp("kinds") / "two.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (160, 120))
    for x in [20] * 6 + [100] * 6:
        writer.write(square(x))
    writer.release()
    return path


def live(video: Path, model: Path) -> tuple[list, list[int], dict[str, int]]:
    """live on the video, headless over the whole frame: each frame's result, the segmentations made so far after
    each frame, and the frame path's counts."""
    results, segmented = [], []

    def emit(result) -> None:
        results.append(result)
        segmented.append(len(SEGMENTED))

    summary = run(LiveConfig(source=str(video), model=model, display=False, roi=(0, 0, 160, 120)), emit=emit)
    assert summary.frames == 12
    return results, segmented, summary.scene


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
    # photo folders: prepared as the kind says; not cached (nothing costly to keep): the second read prepares again
    tree, cache = make_tree(tmp_path / "photos", per_class=2), tmp_path / "cache"
    PREPARED.clear()
    for _ in range(2):
        photos = load_photos(tree, cache=cache, preparation=Thumbnail(16))
        assert photos.images.shape[1:] == (16, 16) and photos.cache_hits == 0
    assert len(PREPARED) == 2 * len(photos) and not cache.exists()


def test_a_new_segmenting_kind_runs_through_live_on_its_own_frame_path(registered, tmp_path, two_scenes):
    """Live asks the kind: Blob's segment step runs on the first frame and once the new scene has settled (frame 7),
    at Blob's work size; the frame between is "moving"; every other frame reuses the segmentation, and its
    `prepare` is never called."""
    path = model(tmp_path / "blob.onnx", meta_text(preprocess=Blob().record()))
    results, segmented, counts = live(two_scenes, path)
    assert counts == {"segmented": 2, "too late for their scene": 0, "moving": 1}
    assert segmented == [1] * 7 + [2] * 5  # segmented in frames 0 and 7
    (first, left), (second, right) = SEGMENTED
    assert first == second == threading.current_thread().name  # a file read frame by frame: in the loop
    assert left < 0.5 < right  # the left square, then the right one
    seen = [r.seen for r in results]
    assert all(s.shape == (28, 28) for s in seen) and len(PREPARED) == 1  # the classifier's warm-up only
    assert not seen[6].any()  # moving: the kind's empty image, nothing to classify
    assert all(s[:, :14].sum() > s[:, 14:].sum() for s in seen[:6])  # Blob's render of the left square
    assert all(s[:, 14:].sum() > s[:, :14].sum() for s in seen[7:])  # and of the right one


def test_a_new_segmenting_kind_segments_off_the_loop_for_a_live_source(registered):
    scene = frame_preprocess(Blob(), background=True)
    assert isinstance(scene, ScenePreprocess)
    try:
        assert scene(square(20)).empty  # the worker segments it; the loop does not wait
        assert scene.segmenter.wait()
        got = scene(square(20))
    finally:
        scene.close()
    assert not got.empty and got.image[:, :14].sum() > got.image[:, 14:].sum()
    assert [thread for thread, _ in SEGMENTED] == ["fmnist-segment"] and not PREPARED


def test_a_new_kind_that_does_not_segment_is_prepared_on_every_live_frame(registered, tmp_path, two_scenes):
    path = model(tmp_path / "thumb.onnx", meta_text(preprocess=Thumbnail(16).record()), side=16)
    results, _, counts = live(two_scenes, path)
    assert counts == {} and not SEGMENTED
    assert len(PREPARED) == 1 + 12  # the classifier's warm-up, then once a frame
    assert all(r.seen.shape == (16, 16) for r in results)


def test_photo_folders_are_cached_for_a_kind_that_says_so(registered, tmp_path):
    tree, cache = make_tree(tmp_path / "photos", per_class=2), tmp_path / "cache"
    first = load_photos(tree, cache=cache, preparation=Blob())
    again = load_photos(tree, cache=cache, preparation=Blob())
    assert first.cache_hits == 0 and again.cache_hits == len(again) == 8
    assert np.array_equal(first.images, again.images) and len(PREPARED) == 8


def test_a_kind_names_the_test_images_it_is_judged_on(registered, tmp_path):
    path = model(tmp_path / "blob.onnx", meta_text(preprocess=Blob().record()))
    test = testset.test_set_for(path)
    assert test.preparation == Blob() and test.what == testset.FMNIST_TEST and test.images.shape == (10_000, 28, 28)


def test_test_images_fmnist_does_not_make_are_refused(registered, tmp_path, monkeypatch):
    monkeypatch.setattr(Blob, "test_images", "drawn")
    path = model(tmp_path / "blob.onnx", meta_text(preprocess=Blob().record()))
    with pytest.raises(ModelError, match=r"kind 'blob' is judged on test images drawn, .*it makes fashion-mnist, "
                                         "rendered"):
        testset.test_set_for(path)


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
