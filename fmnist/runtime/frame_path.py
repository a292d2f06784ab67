"""How a kind that segments prepares live frames: what `fmnist live` (fmnist.runtime.video.scene) asks of it, so the
loop itself never knows which kind it runs.

A photo is segmented once; a camera shows the same scene for many frames in a row. A kind whose preparation costs a
segmentation (the cut-out's GrabCut) returns a `SegmentingFrames` from `Preparation.frame_path()`:

- `work_size`: the long side a frame's region of interest is shrunk to before anything else;
- `view` and `change`: the kind's own "has the scene moved" rule, a cheap signature of the shrunk picture (the
  cut-out's: a grey thumbnail) and how two of them differ. `change` returns a `Change`: another scene, or the same
  scene, possibly shifted (a handheld camera's drift);
- `follow`: a segmentation moved with the scene's shift, so a drifting camera keeps its cut-out without a new
  segmentation;
- `segment`: the costly step, run in the loop or in a worker thread (fmnist.runtime.video.segmenter), on the
  shrunk picture only: it must not touch shared state;
- `render`: a segmentation applied to a shrunk frame, giving what the model sees; on the frame that was segmented,
  exactly what `Preparation.prepare` gives;
- `nothing`: the image of a frame with nothing to classify yet (the scene moves), of the kind's `image_shape`.

`ThumbnailRule` and `DriftRule` (which finds a drift by phase correlation and compares the pictures once aligned)
are ready-made rules with their thresholds as fields. A kind that returns None from `frame_path()`
prepares every frame afresh with `prepare` (the photo tier's crop).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, TypeVar

import cv2
import numpy as np

from fmnist.runtime.image import Prepared, Shrunk, shrink

S = TypeVar("S")  # a kind's segmentation of one shrunk picture (the cut-out's: a mask and its contrast)


@dataclass(frozen=True)
class Change:
    """What a kind's scene rule finds between an earlier view and the frame's now."""

    moved: bool  # another scene: a segmentation made on the earlier view no longer holds
    shift: tuple[float, float] = (0.0, 0.0)  # the same scene, shifted by this share of the view's width and height

    @property
    def drift(self) -> float:
        """How far the scene has shifted, as a share of the view's side."""
        return float(np.hypot(*self.shift))


STILL, MOVED = Change(False), Change(True)


def grey_thumbnail(small: np.ndarray, side: int, least: int) -> np.ndarray:
    """A BGR picture grey and shrunk (area) so that its long side is `side`, each side at least `least`; uint8."""
    h, w = small.shape[:2]
    scale = side / max(h, w)
    size = (max(least, round(w * scale)), max(least, round(h * scale)))
    return cv2.resize(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), size, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class ThumbnailRule:
    """The scene has moved when more than `share` of the pixels of a `side`-pixel grey thumbnail (where sensor noise
    averages out) moved by more than `level` grey levels. A missing view, or one of another size, has moved."""

    side: int
    level: int
    share: float

    def view(self, small: np.ndarray) -> np.ndarray:
        """The thumbnail of a BGR picture: its long side `side`, grey, int16 (differences stay signed)."""
        return grey_thumbnail(small, self.side, 1).astype(np.int16)

    def change(self, before: np.ndarray | None, now: np.ndarray) -> Change:
        if before is None or before.shape != now.shape:
            return MOVED
        return MOVED if float(np.mean(np.abs(before - now) > self.level)) > self.share else STILL


@dataclass(frozen=True)
class DriftRule:
    """A handheld camera's rule: the scene is the same if, once shifted back by the drift that phase correlation
    finds between the two `side`-pixel grey thumbnails, at most `share` of the pixels inside the overlap differ by more
    than `level` grey levels; the change then carries that shift. A drift beyond `max_shift` of the side, or a
    correlation peak under `min_response` (a blank or changing picture), is not trusted as a shift: the thumbnails are
    compared as they are."""

    side: int
    level: int
    share: float
    max_shift: float = 0.25
    min_response: float = 0.1
    blur: float = 1.0  # the thumbnail's Gaussian blur (px): an edge misaligned by a fraction of a pixel differs less

    def view(self, small: np.ndarray) -> np.ndarray:
        """The thumbnail of a BGR picture: its long side `side` (each side at least 8, for phase correlation), grey,
        float32, blurred."""
        return cv2.GaussianBlur(grey_thumbnail(small, self.side, 8).astype(np.float32), (0, 0), self.blur)

    def change(self, before: np.ndarray | None, now: np.ndarray) -> Change:
        if before is None or before.shape != now.shape:
            return MOVED
        h, w = now.shape
        (dx, dy), response = cv2.phaseCorrelate(before, now, _hanning(now.shape))
        if response < self.min_response or max(abs(dx) / w, abs(dy) / h) > self.max_shift:
            dx = dy = 0.0
        back = cv2.warpAffine(before, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), flags=cv2.INTER_LINEAR)
        mx, my = int(np.ceil(abs(dx))) + 1, int(np.ceil(abs(dy))) + 1  # the overlap: where both pictures have pixels
        differ = np.abs(back[my:h - my, mx:w - mx] - now[my:h - my, mx:w - mx]) > self.level
        if differ.size == 0 or float(np.mean(differ)) > self.share:
            return MOVED
        return Change(False, (dx / w, dy / h))


@functools.lru_cache(maxsize=8)
def _hanning(shape: tuple[int, int]) -> np.ndarray:
    return cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)


@dataclass(frozen=True)
class SegmentingFrames(ABC, Generic[S]):
    """What live needs from a kind that segments (see the module doc)."""

    work_size: int  # the long side a frame's region is shrunk to (a segmentation's cost grows fast with it)
    image_shape: tuple[int, ...]  # what the model sees: Preparation.image_shape

    def shrink(self, image: np.ndarray, scale: float = 1.0) -> Shrunk:
        """`image` shrunk to the work size, times `scale` (a picture that holds a margin around the region)."""
        return shrink(image, round(self.work_size * scale))

    @abstractmethod
    def view(self, small: np.ndarray) -> np.ndarray:
        """What the scene rule compares: a cheap signature of a shrunk picture, made on every frame."""

    @abstractmethod
    def change(self, before: np.ndarray | None, now: np.ndarray) -> Change:
        """The kind's "has the scene moved" rule between an earlier view (None: there is none) and the one now."""

    @abstractmethod
    def segment(self, small: np.ndarray) -> S:
        """The costly step, on a shrunk picture; may run in a worker thread."""

    @abstractmethod
    def render(self, shrunk: Shrunk, seg: S) -> Prepared:
        """What the model sees of a shrunk frame, cut with a segmentation of this scene."""

    def follow(self, seg: S, change: Change) -> S:
        """The segmentation moved with a scene that shifted (`change.shift`); a kind that cannot move one keeps it."""
        return seg

    def nothing(self, shrunk: Shrunk) -> Prepared:
        """A frame with nothing to classify yet (its scene moves): an empty image over the whole region."""
        h, w = shrunk.small.shape[:2]
        box = (0, 0, int(w / shrunk.factor), int(h / shrunk.factor))
        return Prepared(np.zeros(self.image_shape, np.uint8), False, True, box)
