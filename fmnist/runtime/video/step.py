"""One frame of `fmnist live`: take the region of interest (a centred square guide box by default, and MARGIN beyond
it), run the same preprocessing as `classify` (segmenting anew only when the scene has changed:
fmnist.runtime.video.scene), infer, smooth the probabilities over the last K frames, apply classify's "not sure" rule
(fmnist.runtime.decision) to the smoothed probabilities, and draw the result."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from fmnist.core.errors import UsageError
from fmnist.runtime.annotate import annotate
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.decision import NOT_SURE, decide
from fmnist.runtime.image import Prepared
from fmnist.runtime.video.scene import frame_preprocess

TOP = 3  # labels listed on the preview page
GUIDE = 0.6  # the default region of interest: a centred square, this share of the frame's short side
# The model sees this share of the box's side beyond each of its edges: a garment that spills over the box (larger
# than it, or pushed over its edge by a handheld camera's drift) is seen whole, not cut at the box's edge. On
# scripts/scene_sequences.py's 200 products, sure but wrong went from 11.0 to 5.7 % of frames (edge, slow drift) and
# from 10.1 to 8.7 % (photo, wood table): docs/live.md.
MARGIN = 0.1

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass
class FrameResult:
    frame: int
    label: str  # a class name or "not sure"
    score: float  # smoothed probability of the best class
    fps: float  # moving average of frames per second
    ms: float  # preprocessing + inference for this frame
    source_frame: int = 0  # the frame's position in the source (gaps: frames dropped as stale)
    age_ms: float = 0.0  # from the capture of the frame the label rests on (its segmentation's, if newer) to now
    top: list[tuple[str, float]] = field(default_factory=list)  # the TOP best labels, smoothed, best first
    sure: bool = False  # the label is a class, not "not sure"
    seen: np.ndarray | None = None  # the image the model saw (28x28 grey, or the photo tier's colour square)
    box: Box = (0, 0, 0, 0)  # the region classified (the guide box and its margin), in the frame's pixels

    def to_json(self) -> dict[str, object]:
        """The line `fmnist live --json` prints for this frame."""
        return {"frame": self.frame, "label": self.label, "score": round(self.score, 4), "fps": round(self.fps, 2),
                "ms": round(self.ms, 2), "source_frame": self.source_frame, "age_ms": round(self.age_ms, 2)}


def parse_roi(text: str) -> Box:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise UsageError(f"--roi takes x,y,w,h in pixels, e.g. 160,80,320,320; got {text!r}")
    x, y, w, h = (int(p) for p in parts)
    if w < 8 or h < 8:
        raise UsageError(f"--roi {text}: the box must be at least 8x8 pixels")
    return x, y, w, h


def check_roi(width: int, height: int, roi: Box | None) -> None:
    """UsageError when less than half of `roi` lies in a width x height frame: a sliver at the frame's edge is no
    picture of what the box was meant to hold. Checked on a source's first frame; a stream whose frames change
    size later has its box clipped (guide_box), as a run must not end mid-way."""
    if roi is None:
        return
    x, y, w, h = roi
    _, _, inside_w, inside_h = guide_box(width, height, roi)  # a box wholly outside keeps one pixel: still refused
    if inside_w * inside_h * 2 < w * h:
        raise UsageError(f"--roi {x},{y},{w},{h}: less than half of it lies in the {width}x{height} frame; give a "
                         "box inside the frame")


def guide_box(width: int, height: int, roi: Box | None) -> Box:
    """The region classified in each frame, clipped to the frame (at least one pixel)."""
    if roi is None:
        side = max(1, int(min(width, height) * GUIDE))  # a frame 1 px tall still has a box
        return (width - side) // 2, (height - side) // 2, side, side
    x, y, w, h = roi
    x, y = min(max(0, x), width - 1), min(max(0, y), height - 1)
    return x, y, max(1, min(roi[0] + w, width) - x), max(1, min(roi[1] + h, height) - y)


def grown(box: Box, share: float, width: int, height: int) -> Box:
    """`box` grown by `share` of its side beyond each edge, clipped to the frame."""
    x, y, w, h = box
    dx, dy = round(w * share), round(h * share)
    left, top = max(0, x - dx), max(0, y - dy)
    return left, top, min(width, x + w + dx) - left, min(height, y + h + dy) - top


class Smoother:
    """The mean of the last K probability vectors."""

    def __init__(self, k: int) -> None:
        self.window: deque[np.ndarray] = deque(maxlen=max(1, k))

    def add(self, probs: np.ndarray) -> np.ndarray:
        self.window.append(probs)
        return np.mean(self.window, axis=0)


class FrameStep:
    """One frame: region of interest, preprocess, infer, smooth, decide, draw. Keeps the smoothing window and FPS.
    With `background`, segmentation runs off the frame path (fmnist.runtime.video.segmenter); close() ends it."""

    def __init__(self, classifier: Classifier, roi: Box | None = None, smooth: int = 5,
                 background: bool = False) -> None:
        self.classifier, self.roi = classifier, roi
        self.smoother = Smoother(smooth)
        # classify's preprocessing, as the model's kind says: one that segments does so when the scene changes
        self.preprocess = frame_preprocess(classifier.preparation, background)
        count = len(classifier.labels)
        self.uniform = np.full(count, 1.0 / count, np.float32)
        self.frames, self.fps, self.last = 0, 0.0, time.perf_counter()
        self.seconds = dict.fromkeys(("preprocess", "infer", "overlay"), 0.0)  # totals per stage

    def _decide(self, probs: np.ndarray, prepared: Prepared) -> tuple[str, float, bool, list[tuple[str, float]]]:
        """(label or "not sure", smoothed score of the best class, sure, the top 3 smoothed): classify's rule
        (fmnist.runtime.decision.decide) on the probabilities smoothed over the last frames."""
        smoothed = self.smoother.add(self.uniform if prepared.empty else probs)  # nothing there: toward uniform
        labels = self.classifier.labels
        decision = decide(smoothed, prepared.empty, self.classifier.threshold, labels, TOP)
        return decision.label, decision.score, decision.sure, [(labels[i], round(p, 4)) for i, p in decision.top]

    def _tick(self, now: float) -> None:
        rate = 1.0 / max(now - self.last, 1e-6)
        self.fps, self.last = (rate if self.frames == 0 else 0.9 * self.fps + 0.1 * rate), now

    def __call__(self, frame: np.ndarray, captured: float | None = None,
                 number: int | None = None) -> tuple[FrameResult, np.ndarray]:
        t1 = time.perf_counter()
        captured = t1 if captured is None else captured
        if self.frames == 0:
            check_roi(frame.shape[1], frame.shape[0], self.roi)
        guide = guide_box(frame.shape[1], frame.shape[0], self.roi)
        box = grown(guide, MARGIN, frame.shape[1], frame.shape[0])
        x, y, w, h = box
        scale = max(w, h) / max(guide[2], guide[3])  # 1 + 2 MARGIN, or less where the frame clips the margin
        prepared = self.preprocess(frame[y : y + h, x : x + w], captured, scale)
        t2 = time.perf_counter()
        probs = self.classifier.predict(prepared.image[None])[0]
        t3 = time.perf_counter()
        label, score, sure, top = self._decide(probs, prepared)
        self._tick(t3)
        age_ms = (t3 - min(captured, self.preprocess.since)) * 1000  # with the wait for its segmentation
        result = FrameResult(self.frames, label, score, self.fps, (t3 - t1) * 1000,
                             self.frames if number is None else number, age_ms, top, sure, prepared.image, box)
        lines = [f"{label} {score:.0%}" if sure else NOT_SURE,
                 f"{self.fps:.1f} fps  infer {(t3 - t2) * 1000:.1f} ms  age {age_ms:.0f} ms"]
        colour = (40, 220, 40) if sure else (0, 200, 255)  # green, or amber when unsure
        annotated = annotate(frame, lines, prepared.image, guide, colour)
        for stage, seconds in zip(self.seconds, (t2 - t1, t3 - t2, time.perf_counter() - t3), strict=True):
            self.seconds[stage] += seconds
        self.frames += 1
        return result, annotated

    def close(self) -> None:
        self.preprocess.close()
