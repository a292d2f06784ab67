"""How a kind that segments prepares live frames: what `fmnist live` (fmnist.runtime.video.scene) asks of it, so the
loop itself never knows which kind it runs.

A photo is segmented once; a camera shows the same scene for many frames in a row. A kind whose preparation costs a
segmentation (the cut-out's GrabCut) returns a `SegmentingFrames` from `Preparation.frame_path()`:

- `work_size`: the long side a frame's region of interest is shrunk to before anything else;
- `view` and `change`: the kind's own "has the scene moved" rule, a cheap signature of the shrunk picture (the
  cut-out's: a grey thumbnail) and how two of them differ. `change` returns a `Change`, not a bool, so a rule can
  later say more than "moved" (a still scene seen by a drifting camera, shifted by some pixels);
- `segment`: the costly step, run in the loop or in a worker thread (fmnist.runtime.video.segmenter), on the
  shrunk picture only: it must not touch shared state;
- `render`: a segmentation applied to a shrunk frame, giving what the model sees; on the frame that was segmented,
  exactly what `Preparation.prepare` gives;
- `nothing`: the image of a frame with nothing to classify yet (the scene moves), of the kind's `image_shape`.

`ThumbnailRule` is a ready-made rule with its thresholds as fields. A kind that returns None from `frame_path()`
prepares every frame afresh with `prepare` (the photo tier's crop).
"""

from __future__ import annotations

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


STILL, MOVED = Change(False), Change(True)


@dataclass(frozen=True)
class ThumbnailRule:
    """The scene has moved when more than `share` of the pixels of a `side`-pixel grey thumbnail (where sensor noise
    averages out) moved by more than `level` grey levels. A missing view, or one of another size, has moved."""

    side: int
    level: int
    share: float

    def view(self, small: np.ndarray) -> np.ndarray:
        """The thumbnail of a BGR picture: its long side `side`, grey, int16 (differences stay signed)."""
        h, w = small.shape[:2]
        scale = self.side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.int16)

    def change(self, before: np.ndarray | None, now: np.ndarray) -> Change:
        if before is None or before.shape != now.shape:
            return MOVED
        return MOVED if float(np.mean(np.abs(before - now) > self.level)) > self.share else STILL


@dataclass(frozen=True)
class SegmentingFrames(ABC, Generic[S]):
    """What live needs from a kind that segments (see the module doc)."""

    work_size: int  # the long side a frame's region is shrunk to (a segmentation's cost grows fast with it)
    image_shape: tuple[int, ...]  # what the model sees: Preparation.image_shape

    def shrink(self, image: np.ndarray) -> Shrunk:
        return shrink(image, self.work_size)

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

    def nothing(self, shrunk: Shrunk) -> Prepared:
        """A frame with nothing to classify yet (its scene moves): an empty image over the whole region."""
        h, w = shrunk.small.shape[:2]
        box = (0, 0, int(w / shrunk.factor), int(h / shrunk.factor))
        return Prepared(np.zeros(self.image_shape, np.uint8), False, True, box)
