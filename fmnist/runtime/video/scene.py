"""`preprocess` for a stream of frames: segment when the scene changes, reuse the mask while it holds still.

A photo is segmented once; a camera shows the same scene for many frames in a row. Segmentation (GrabCut)
is nearly all of preprocessing's cost, so the video path segments a frame only when its picture differs
from the one last segmented, and otherwise cuts the current frame with the mask it already has. Every
step is the cut-out's own (fmnist.runtime.cutout: shrink, segment, render): a frame that is segmented gives
exactly what `classify` gives on it.

"Differs" is judged on a 32-pixel grey thumbnail, where sensor noise averages out: the scene has changed
when more than CHANGE_SHARE of its pixels moved by more than CHANGE_LEVEL grey levels since the last
segmentation. The comparison is with that frame, not the previous one, so a slow drift adds up too.

A changed scene is segmented once it has settled (a frame like the one before it): while the camera swings
or a garment is carried in, each frame would cost a full segmentation (~20-250 ms here) for a picture that
is gone by the next one. Such a frame is marked empty, so the label falls to "not sure" while the scene
moves; a scene that never settles is still segmented every MAX_WAIT frames.

Segmentation itself runs in a Segmenter (fmnist.runtime.video.segmenter): in the loop for a video file read
frame by frame, off it for a live source. Off the loop, the frames that arrive while a new scene is being
segmented are "moving" (not sure), and a result is applied only if the scene has not changed since its frame:
no label describes a scene that is gone. The first frame labelled from a new segmentation carries that
segmentation's wait in its age (`since`).
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from fmnist.runtime.cutout import WORK_SIZE, Segment, render
from fmnist.runtime.image import Prepared, Shrunk, shrink
from fmnist.runtime.kind import Preparation
from fmnist.runtime.video.segmenter import BackgroundSegmenter, Done, Job, Segmenter

THUMB_SIZE = 32  # long side of the thumbnail frames are compared on
CHANGE_LEVEL = 24  # grey levels a thumbnail pixel must move by to count as changed
CHANGE_SHARE = 0.01  # share of thumbnail pixels that must change for a new segmentation
MAX_WAIT = 8  # moving frames after which a scene that has not settled is segmented anyway


def thumbnail(small: np.ndarray) -> np.ndarray:
    h, w = small.shape[:2]
    scale = THUMB_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.int16)


def changed(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Has the scene changed between two thumbnails? (A missing one or another size: yes.)"""
    if a is None or b is None or a.shape != b.shape:
        return True
    return float(np.mean(np.abs(a - b) > CHANGE_LEVEL)) > CHANGE_SHARE


def moving(shrunk: Shrunk) -> Prepared:
    """A frame of a scene in motion: nothing to classify yet."""
    h, w = shrunk.small.shape[:2]
    return Prepared(np.zeros((28, 28), np.uint8), False, True, (0, 0, int(w / shrunk.factor), int(h / shrunk.factor)))


class ScenePreprocess:
    """Call it on each frame's region of interest, in order. Counts the frames it segmented, reused the mask
    for, and skipped as moving (or waiting for a segmentation); `since` is, for the last frame, the capture time
    the label's information dates from."""

    def __init__(self, segmenter: Segmenter | None = None) -> None:
        self.segmenter = segmenter or Segmenter()
        self.reference: np.ndarray | None = None  # the thumbnail of the last segmented frame
        self.previous: np.ndarray | None = None  # the thumbnail of the frame before this one
        self.segment: Segment | None = None
        self.segmented = self.reused = self.moving = self.stale = 0  # stale: results for a scene already gone
        self.waited = 0  # moving frames since the scene changed
        self.since = 0.0

    def __call__(self, image: np.ndarray, captured: float | None = None) -> Prepared:
        captured = time.perf_counter() if captured is None else captured
        self.since = captured
        shrunk = shrink(image, WORK_SIZE)
        thumb = thumbnail(shrunk.small)
        previous, self.previous = self.previous, thumb
        if self.segment is not None and self.segment.mask.shape != shrunk.small.shape[:2]:
            self.segment = self.reference = None  # the stream came back at another size: its mask no longer fits
        fresh = self._apply(self.segmenter.take(), shrunk.small, thumb)
        if self.segment is not None and not changed(thumb, self.reference):
            self.reused += not fresh
            return render(shrunk, self.segment)
        settled = self.segment is None or not changed(thumb, previous)
        if settled or self.waited >= MAX_WAIT:
            self.waited = 0
            if not self.segmenter.pending or changed(thumb, self.segmenter.latest.thumb):  # type: ignore[union-attr]
                self.segmenter.submit(Job(shrunk.small, thumb, captured))
            if self._apply(self.segmenter.take(), shrunk.small, thumb):  # in the loop: ready at once
                return render(shrunk, self.segment)  # type: ignore[arg-type]
        else:
            self.waited += 1
        self.moving += 1
        return moving(shrunk)

    def _apply(self, done: Done | None, small: np.ndarray, thumb: np.ndarray) -> bool:
        """Take a finished segmentation if its scene is still the one in view, at the same size; True if it was
        taken."""
        if done is None:
            return False
        if changed(thumb, done.job.thumb) or done.job.small.shape != small.shape:
            self.stale += 1
            return False
        self.segment, self.reference = done.segment, done.job.thumb
        self.segmented += 1
        self.since = min(self.since, done.job.captured)  # the label waited for this segmentation
        return True

    def counts(self) -> dict[str, int]:
        """For the run's summary: frames segmented, segmentations too late for their scene, frames moving."""
        return {"segmented": self.segmented, "too late for their scene": self.stale, "moving": self.moving}

    def close(self) -> None:
        self.segmenter.close()


class DirectPreprocess:
    """Frames for a preparation that does not segment (the photo tier's centre crop): each frame's region of
    interest prepared afresh, with nothing to wait for or reuse."""

    def __init__(self, preparation: Preparation) -> None:
        self.preparation = preparation
        self.since = 0.0

    def __call__(self, image: np.ndarray, captured: float | None = None) -> Prepared:
        self.since = time.perf_counter() if captured is None else captured
        return self.preparation.prepare(image)

    def counts(self) -> dict[str, int]:
        return {}  # nothing segmented, reused or waited for

    def close(self) -> None:
        pass


def frame_preprocess(preparation: Preparation, background: bool) -> ScenePreprocess | DirectPreprocess:
    """What prepares each frame for a model: a preparation that segments (the cut-out) segments when the scene
    changes (off the frame path with `background`); any other prepares every frame (the photo tier's crop)."""
    if preparation.segments:
        return ScenePreprocess(BackgroundSegmenter() if background else Segmenter())
    return DirectPreprocess(preparation)
