"""`fmnist live`: classify frames from a camera, a video file or a stream, with a window or headless.

Per frame: take the region of interest (a centred square guide box by default), run the same
preprocessing as `classify` (segmenting anew only when the scene has changed: fmnist.runtime.video.scene),
infer, smooth the probabilities over the last K frames, and apply the same "not sure" rule as `classify`
(fmnist.runtime.decision) to the smoothed probabilities.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fmnist.core.errors import SourceError, UsageError
from fmnist.runtime.annotate import annotate, draw_footer
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.decision import NOT_SURE, is_sure
from fmnist.runtime.video import serve
from fmnist.runtime.video.capture import EveryFrame, LatestFrame
from fmnist.runtime.video.collect import Collector
from fmnist.runtime.video.scene import ScenePreprocess
from fmnist.runtime.video.sources import VideoSource

WINDOW = "fmnist live (q: quit, s: snapshot)"
QUIT_KEYS = (ord("q"), 27)
GUIDE = 0.6  # the default region of interest: a centred square, this share of the frame's short side

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class LiveConfig:
    source: str = "0"
    model: Path | None = None
    roi: Box | None = None
    display: bool = True  # False: --no-display; True still falls back to headless when no screen exists
    record: Path | None = None
    serve: str | None = None
    max_frames: int | None = None
    smooth: int = 5
    threshold: float | None = None  # None: the model's own (its metadata)
    threads: int = 1
    status_every_s: float = 2.0
    realtime: bool = False  # a file: play it at its own fps, newest frame only (as a camera)
    collect: Path | None = None  # save guide-box crops under collect/<label>/ (fmnist.runtime.video.collect)
    collect_labels: tuple[str, ...] = ()  # the first is saved headless; keys 1-9 pick one in a window
    every: int = 5  # headless collection: every Nth frame


@dataclass
class FrameResult:
    frame: int
    label: str  # a class name or "not sure"
    score: float  # smoothed probability of the best class
    fps: float  # moving average of frames per second
    ms: float  # preprocessing + inference for this frame
    source_frame: int = 0  # the frame's position in the source (gaps: frames dropped as stale)
    age_ms: float = 0.0  # from the frame's capture to its label


@dataclass
class Summary:
    frames: int = 0
    seconds: float = 0.0
    labels: Counter = field(default_factory=Counter)
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean per frame: read, preprocess, infer, overlay
    interrupted: bool = False
    size: tuple[int, int] = (0, 0)
    dropped: int = 0  # frames the source delivered while an older one was being processed: skipped as stale
    ages_ms: list[float] = field(default_factory=list)  # each label's age
    collected: dict[str, int] = field(default_factory=dict)  # --collect: photos saved this run, per label
    segmented: int = 0  # frames whose scene had changed and settled: segmented anew
    moving: int = 0  # frames whose scene was still changing: not segmented, "not sure"

    def age_percentile(self, q: float) -> float:
        return float(np.percentile(self.ages_ms, q)) if self.ages_ms else 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def parse_roi(text: str) -> Box:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise UsageError(f"--roi takes x,y,w,h in pixels, e.g. 160,80,320,320; got {text!r}")
    x, y, w, h = (int(p) for p in parts)
    if w < 8 or h < 8:
        raise UsageError(f"--roi {text}: the box must be at least 8x8 pixels")
    return x, y, w, h


def guide_box(width: int, height: int, roi: Box | None) -> Box:
    """The region classified in each frame, clipped to the frame."""
    if roi is None:
        side = int(min(width, height) * GUIDE)
        return (width - side) // 2, (height - side) // 2, side, side
    x, y, w, h = roi
    x, y = min(max(0, x), width - 1), min(max(0, y), height - 1)
    return x, y, max(1, min(w, width - x)), max(1, min(h, height - y))


def display_available(env: Mapping[str, str] | None = None, probe: Callable[[], bool] | None = None) -> bool:
    """Is there a screen to show a window on? No $DISPLAY/$WAYLAND_DISPLAY, or a failing window, means no."""
    env = os.environ if env is None else env
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return False
    return (probe or _probe_window)()


def _probe_window() -> bool:
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE)
        return True
    except cv2.error:  # a headless OpenCV build, or a display that refuses us
        return False


class Smoother:
    """The mean of the last K probability vectors."""

    def __init__(self, k: int) -> None:
        self.window: deque[np.ndarray] = deque(maxlen=max(1, k))

    def add(self, probs: np.ndarray) -> np.ndarray:
        self.window.append(probs)
        return np.mean(self.window, axis=0)


def _writer(path: Path, size: tuple[int, int], fps: float) -> cv2.VideoWriter:
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), fourcc, fps if 1 <= fps <= 120 else 15.0, size)
    if not writer.isOpened():
        raise SourceError(f"cannot record to {path}: OpenCV has no writer for it; use .mp4 or .avi")
    return writer


class FrameStep:
    """One frame: region of interest, preprocess, infer, smooth, decide, draw. Keeps the smoothing window and FPS."""

    def __init__(self, classifier: Classifier, cfg: LiveConfig) -> None:
        self.classifier, self.cfg = classifier, cfg
        self.smoother = Smoother(cfg.smooth)
        self.preprocess = ScenePreprocess()  # classify's preprocessing; segments only when the scene changes
        count = len(classifier.labels)
        self.uniform = np.full(count, 1.0 / count, np.float32)
        self.frames, self.fps, self.last = 0, 0.0, time.perf_counter()
        self.seconds = dict.fromkeys(("preprocess", "infer", "overlay"), 0.0)  # totals per stage

    def __call__(self, frame: np.ndarray, captured: float | None = None,
                 number: int | None = None) -> tuple[FrameResult, np.ndarray]:
        t1 = time.perf_counter()
        captured = t1 if captured is None else captured
        box = guide_box(frame.shape[1], frame.shape[0], self.cfg.roi)
        x, y, w, h = box
        prepared = self.preprocess(frame[y : y + h, x : x + w])
        t2 = time.perf_counter()
        probs = self.classifier.predict(prepared.image[None])[0]
        t3 = time.perf_counter()
        nothing = prepared.empty or prepared.low_contrast
        smoothed = self.smoother.add(self.uniform if nothing else probs)  # nothing there: pull toward uniform
        best = int(np.argmax(smoothed))
        sure = is_sure(float(smoothed[best]), prepared.empty, self.classifier.threshold)
        label = self.classifier.labels[best] if sure else NOT_SURE
        rate = 1.0 / max(t3 - self.last, 1e-6)
        self.fps, self.last = (rate if self.frames == 0 else 0.9 * self.fps + 0.1 * rate), t3
        age_ms = (t3 - captured) * 1000
        result = FrameResult(self.frames, label, float(smoothed[best]), self.fps, (t3 - t1) * 1000,
                             self.frames if number is None else number, age_ms)
        lines = [f"{label} {smoothed[best]:.0%}" if label != NOT_SURE else NOT_SURE,
                 f"{self.fps:.1f} fps  infer {(t3 - t2) * 1000:.1f} ms  age {age_ms:.0f} ms"]
        colour = (40, 220, 40) if label != NOT_SURE else (0, 200, 255)  # green, or amber when unsure
        annotated = annotate(frame, lines, prepared.image, box, colour)
        for stage, seconds in zip(self.seconds, (t2 - t1, t3 - t2, time.perf_counter() - t3), strict=True):
            self.seconds[stage] += seconds
        self.frames += 1
        return result, annotated


def run(cfg: LiveConfig, emit: Callable[[FrameResult], None] | None = None,
        on_start: Callable[[str], None] | None = None) -> Summary:
    """The loop. Ends at the end of a file, --max-frames, q/Esc in the window, or Ctrl-C; always cleans up."""
    classifier = Classifier(cfg.model, threads=cfg.threads, threshold=cfg.threshold)
    source = VideoSource(cfg.source)
    show = cfg.display and display_available()
    preview = serve.Preview() if cfg.serve else None
    server = serve.start(cfg.serve, preview) if cfg.serve and preview else None
    step, writer, summary = FrameStep(classifier, cfg), None, Summary(size=source.size)
    collector = Collector(cfg.collect, list(cfg.collect_labels), cfg.every) if cfg.collect else None
    read_s, last_status = 0.0, 0.0
    if on_start:
        where = f"; preview on http://{server.server_address[0]}:{server.server_port}/" if server else ""
        on_start(f"source {source.spec.kind} {source.spec.target}: {source.size[0]}x{source.size[1]}"
                 f"{f' @ {source.fps:.0f} fps' if source.fps else ''}; "
                 f"{'window' if show else 'headless'}{where}")
    started = time.perf_counter()
    frames = open_frames(source, cfg.realtime)
    try:
        while cfg.max_frames is None or summary.frames < cfg.max_frames:
            t0 = time.perf_counter()
            got = frames.get()
            if got is None:
                break
            read_s += time.perf_counter() - t0
            frame = got.image
            result, annotated = step(frame, got.captured, got.number)
            summary.ages_ms.append(result.age_ms)
            if collector:
                x, y, w, h = guide_box(frame.shape[1], frame.shape[0], cfg.roi)
                crop = frame[y : y + h, x : x + w]
                if not show and collector.due(summary.frames):
                    collector.save(crop)
                annotated = draw_footer(annotated, collector.lines())
            if cfg.record:
                writer = writer or _writer(cfg.record, (frame.shape[1], frame.shape[0]), source.fps)
                writer.write(annotated)
            if preview:
                ok, jpeg = cv2.imencode(".jpg", annotated, [cv2.IMWRITE_JPEG_QUALITY, 80])
                preview.publish(jpeg.tobytes() if ok else b"", {"frame": result.frame, "label": result.label,
                                                                "score": round(result.score, 4),
                                                                "fps": round(result.fps, 2), "ms": round(result.ms, 2)})
            summary.frames += 1
            summary.labels[result.label] += 1
            if emit:
                emit(result)
            if show:
                key = _show(annotated, summary.frames)
                if key in QUIT_KEYS:
                    break
                if collector and key == ord(" "):
                    collector.save(crop)
                elif collector:
                    collector.select(key)
            now = time.perf_counter()
            if not show and now - last_status >= cfg.status_every_s:
                last_status = now
                print(f"frame {result.frame}: {result.label} {result.score:.0%}  {result.fps:.1f} fps  "
                      f"{result.ms:.1f} ms", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.seconds = time.perf_counter() - started
        frames.stop()
        summary.dropped = frames.dropped
        summary.segmented, summary.moving = step.preprocess.segmented, step.preprocess.moving
        summary.collected = dict(collector.saved) if collector else {}
        source.release()
        if writer is not None:
            writer.release()  # finalizes the container: the recording plays after Ctrl-C too
        if preview:
            preview.close()
        if server:
            server.shutdown()
            server.server_close()
        if show:
            cv2.destroyAllWindows()
    totals = {"read": read_s, **step.seconds}
    summary.stage_ms = {k: round(v / max(1, summary.frames) * 1000, 2) for k, v in totals.items()}
    return summary


def open_frames(source: VideoSource, realtime: bool = False) -> EveryFrame | LatestFrame:
    """A camera or stream: the newest frame only, so processing never falls behind it. A file: every frame,
    unless `realtime` plays it at its own fps like a camera."""
    if source.spec.live:
        return LatestFrame(source.read)
    if realtime:
        return LatestFrame(source.read, fps=source.fps or 30.0)
    return EveryFrame(source.read)


def _show(annotated: np.ndarray, frame: int) -> int:
    """Show a frame; returns the key pressed (-1 for none). s saves a snapshot into the current folder."""
    cv2.imshow(WINDOW, annotated)
    key = cv2.waitKey(1) & 0xFF
    if key == ord("s"):
        name = f"snapshot-{time.strftime('%Y%m%d-%H%M%S')}-{frame}.jpg"
        cv2.imwrite(name, annotated)
        print(f"saved {name}", file=sys.stderr)
    return key
