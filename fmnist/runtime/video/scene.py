"""Preparation for a stream of frames: a kind that segments (fmnist.runtime.frame_path) segments when the scene
changes and reuses its segmentation while the scene holds still; any other kind prepares every frame afresh.

A photo is segmented once; a camera shows the same scene for many frames in a row. Segmentation (the cut-out's
GrabCut) is nearly all of preparation's cost, so the video path segments a frame only when the kind's own scene rule
(`SegmentingFrames.change`) says its picture moved since the one last segmented, and otherwise renders the current
frame with the segmentation it already has. Every step is the kind's own (shrink, view, change, segment, render): a
frame that is segmented gives exactly what `classify` gives on it. The comparison is with the frame last
segmented, not the previous one, so a slow change adds up too. A rule that finds the same scene shifted (the
cut-out's, for a handheld camera's drift) moves the segmentation with it (`follow`), and once the drift passes
REFRESH_DRIFT of the view the newest frame is segmented again, while the moved segmentation labels the frames.

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
from typing import Any

import numpy as np

from fmnist.runtime.frame_path import MOVED, SegmentingFrames
from fmnist.runtime.image import Prepared
from fmnist.runtime.kind import Preparation
from fmnist.runtime.video.segmenter import BackgroundSegmenter, Done, Job, Segmenter

MAX_WAIT = 8  # moving frames after which a scene that has not settled is segmented anyway
REFRESH_DRIFT = 0.06  # a scene that drifted this share of the view's side since it was segmented is segmented again


class ScenePreprocess:
    """Call it on each frame's region of interest, in order. Counts the frames it segmented, reused the
    segmentation for, and skipped as moving (or waiting for a segmentation); `since` is, for the last frame, the
    capture time the label's information dates from."""

    def __init__(self, frames: SegmentingFrames[Any], segmenter: Segmenter | None = None) -> None:
        self.frames = frames
        self.segmenter = segmenter or Segmenter(frames.segment)
        self.reference: np.ndarray | None = None  # the view of the last segmented frame
        self.previous: np.ndarray | None = None  # the view of the frame before this one
        self.segment: Any = None  # the segmentation in use, made on a picture of `shape`
        self.shape: tuple[int, ...] = ()
        self.segmented = self.reused = self.moving = self.stale = 0  # stale: results for a scene already gone
        self.waited = 0  # moving frames since the scene changed
        self.since = 0.0

    def __call__(self, image: np.ndarray, captured: float | None = None, scale: float = 1.0) -> Prepared:
        """`scale`: the picture's side against the region the kind's work size is meant for (live's guide box, when
        the picture holds a margin around it): the work size grows as much, so the box keeps its resolution (at 120 px
        for the box and its margin, a centred coat lost its outline and read as Dress)."""
        captured = time.perf_counter() if captured is None else captured
        self.since = captured
        frames = self.frames
        shrunk = frames.shrink(image, scale)
        view = frames.view(shrunk.small)
        previous, self.previous = self.previous, view
        if self.segment is not None and self.shape != shrunk.small.shape:
            self.segment = self.reference = None  # the stream came back at another size: no longer fits
        fresh = self._apply(self.segmenter.take(), shrunk.small, view)
        change = frames.change(self.reference, view) if self.segment is not None else MOVED
        if not change.moved:
            self.reused += not fresh
            if change.drift > REFRESH_DRIFT:  # a drifting camera: a fresh segmentation of the newest frame
                self._submit(shrunk.small, view, captured)
            return frames.render(shrunk, frames.follow(self.segment, change))
        settled = self.segment is None or not frames.change(previous, view).moved
        if settled or self.waited >= MAX_WAIT:
            self.waited = 0
            self._submit(shrunk.small, view, captured)
            if self._apply(self.segmenter.take(), shrunk.small, view):  # in the loop: ready at once
                return frames.render(shrunk, self.segment)
        else:
            self.waited += 1
        self.moving += 1
        return frames.nothing(shrunk)

    def _submit(self, small: np.ndarray, view: np.ndarray, captured: float) -> None:
        """Segment this frame, unless a segmentation of the same scene is under way."""
        latest = self.segmenter.latest
        if not self.segmenter.pending or latest is None or self.frames.change(latest.view, view).moved:
            self.segmenter.submit(Job(small, view, captured))

    def _apply(self, done: Done | None, small: np.ndarray, view: np.ndarray) -> bool:
        """Take a finished segmentation if its scene is still the one in view, at the same size; True if it was
        taken."""
        if done is None:
            return False
        if done.job.small.shape != small.shape or self.frames.change(done.job.view, view).moved:
            self.stale += 1
            return False
        self.segment, self.reference, self.shape = done.segment, done.job.view, small.shape
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

    def __call__(self, image: np.ndarray, captured: float | None = None, scale: float = 1.0) -> Prepared:
        self.since = time.perf_counter() if captured is None else captured
        return self.preparation.prepare(image)  # the kind's own resize: nothing to scale

    def counts(self) -> dict[str, int]:
        return {}  # nothing segmented, reused or waited for

    def close(self) -> None:
        pass


def frame_preprocess(preparation: Preparation, background: bool) -> ScenePreprocess | DirectPreprocess:
    """What prepares each frame for a model, as its kind says (`Preparation.frame_path`): a kind that segments
    segments when the scene changes (off the frame path with `background`); any other prepares every frame."""
    frames = preparation.frame_path()
    if frames is None:
        return DirectPreprocess(preparation)
    return ScenePreprocess(frames, (BackgroundSegmenter if background else Segmenter)(frames.segment))
