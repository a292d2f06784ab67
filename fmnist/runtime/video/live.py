"""`fmnist live`: classify frames from a camera, a video file or a stream, with a window or headless.

The loop takes a frame (fmnist.runtime.video.capture: the newest one from a camera), runs one FrameStep on it
(fmnist.runtime.video.step: region of interest, classify's preprocessing, infer, smooth, "not sure", draw), and
hands the annotated frame to the outputs: the --json result, a recording, the MJPEG preview, --collect, and a
window with its keys or a status line when headless. It always cleans up, and returns a Summary.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fmnist.core.errors import SourceError, UsageError, escaped
from fmnist.core.signals import Stopped, hold, stop_as_interrupt, whole
from fmnist.runtime.annotate import draw_footer
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.video.capture import EveryFrame, Frame, LatestFrame
from fmnist.runtime.video.collect import Collector
from fmnist.runtime.video.outputs import (
    QUIT_KEYS,
    Recorder,
    StatusLine,
    check_new_recording,
    display_available,
    show,
    unclaim_recording,
)
from fmnist.runtime.video.preview import Preview
from fmnist.runtime.video.sources import VideoSource, pace_fps
from fmnist.runtime.video.step import Box, FrameResult, FrameStep


@dataclass(frozen=True)
class LiveConfig:
    source: str = "0"
    model: Path | None = None
    roi: Box | None = None
    display: bool = True  # False: --no-display; True still falls back to headless when no screen exists
    record: Path | None = None
    max_frames: int | None = None
    smooth: int = 5
    threshold: float | None = None  # None: the model's own (its metadata)
    threads: int = 1
    status_every_s: float = 2.0
    realtime: bool = False  # a file: play it at its own fps, newest frame only (as a camera)
    collect: Path | None = None  # save the region's crops under collect/<label>/ (fmnist.runtime.video.collect)
    collect_labels: tuple[str, ...] = ()  # the first is saved headless; keys 1-9 pick one in a window
    every: int = 5  # headless collection: every Nth frame


@dataclass
class Summary:
    frames: int = 0
    seconds: float = 0.0
    labels: Counter = field(default_factory=Counter)
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean per frame: read, preprocess, infer, overlay
    interrupted: bool = False
    stopped_by: str = ""  # what interrupted it: "Ctrl-C", "SIGTERM" or "SIGHUP"
    size: tuple[int, int] = (0, 0)
    dropped: int = 0  # frames the source delivered while an older one was being processed: skipped as stale
    ages_ms: list[float] = field(default_factory=list)  # each label's age
    collected: dict[str, int] = field(default_factory=dict)  # --collect: photos saved this run, per label
    scene: dict[str, int] = field(default_factory=dict)  # what the frame path counted (ScenePreprocess.counts)
    read_seconds: float = 0.0  # waiting for frames, in all
    recording_error: str = ""  # --record: why the recording misses frames (Recorder.incomplete)
    skipped: int = 0  # a file's packets that did not decode (VideoSource.skipped)
    source_error: str = ""  # why the source failed after its first frame (a stream that stopped): said after this

    def age_percentile(self, q: float) -> float:
        return float(np.percentile(self.ages_ms, q)) if self.ages_ms else 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def text(self, record: Path | None = None) -> str:
        """The line `fmnist live` ends with: frames, fps, drops, the frame path's counts, labels, stage times,
        label age, the recording and the signal that stopped it."""
        histogram = ", ".join(f"{label} {n}" for label, n in self.labels.most_common())
        stages = ", ".join(f"{k} {v:.2f} ms" for k, v in self.stage_ms.items())
        recorded = record is not None and record.is_file() and not self.recording_error
        return (f"{'interrupted: ' if self.interrupted else ''}{self.frames} frames in {self.seconds:.1f} s, "
                f"{self.fps:.1f} fps, {self.dropped} dropped as stale"
                + (f", {self.skipped} packets skipped (not decodable)" if self.skipped else "")
                + "".join(f", {n} {what}" for what, n in self.scene.items()) + "; "
                f"labels: {histogram or 'none'}; per frame: {stages}; label age p50 {self.age_percentile(50):.1f} ms, "
                f"p95 {self.age_percentile(95):.1f} ms"
                + (f"; recorded {record}" if recorded else "")
                + (f"; stopped by {self.stopped_by}" if self.stopped_by.startswith("SIG") else ""))

    def collected_text(self, folder: Path) -> str:
        """What --collect saved, per label."""
        return f"collected into {folder}: {', '.join(f'{name} {n}' for name, n in self.collected.items()) or 'none'}"


def status(result: FrameResult) -> dict[str, object]:
    """The preview's /status: the frame's result (as --json, but for the source frame), its top 3 and its age."""
    row = {k: v for k, v in result.to_json().items() if k != "source_frame"}
    return row | {"sure": result.sure, "top": [{"label": label, "score": score} for label, score in result.top],
                  "age_ms": round(result.age_ms, 1)}


def open_frames(source: VideoSource, realtime: bool = False) -> EveryFrame | LatestFrame:
    """A camera or stream: the newest frame only, so processing never falls behind it. A file: every frame,
    unless `realtime` plays it at its own fps like a camera (held to 0.5-1000 fps, pace_fps: a file's header may say
    anything, 1e-5 fps among it)."""
    if source.spec.live:
        return LatestFrame(source.read, on_stop=source.stopping.set)
    if realtime:
        return LatestFrame(source.read, fps=pace_fps(source.fps), on_stop=source.stopping.set)
    return EveryFrame(source.read)


class Outputs:
    """Everything a run opens besides the model and the source: the window or status line, the recording and the
    collector; and the preview it publishes to, if it was given one (served by fmnist.runtime.video.http). `close()`
    releases all of it and closes the preview."""

    def __init__(self, cfg: LiveConfig, fps: float, preview: Preview | None = None) -> None:
        self.cfg = cfg
        self.show = cfg.display and display_available()
        if len(cfg.collect_labels) > 1 and not self.show:  # before anything is opened
            raise UsageError("--collect-labels picks a label with the keys 1-9 in a window, and this run has none; "
                             "headless, give one --collect-label NAME")
        self.preview = preview
        self.recorder = Recorder(cfg.record, fps)
        self.collector = Collector(cfg.collect, list(cfg.collect_labels), cfg.every) if cfg.collect else None
        self.status = StatusLine(cfg.status_every_s)

    def where(self) -> str:
        """'window' or 'headless', and the preview's address."""
        shown = "window" if self.show else "headless"
        return f"{shown}; preview on {self.preview.url}" if self.preview and self.preview.url else shown

    def deliver(self, frame: np.ndarray, result: FrameResult, annotated: np.ndarray, count: int) -> bool:
        """Send one annotated frame to the recording, the preview, --collect and the window; False when the user
        asked to quit."""
        crop = None
        if self.collector:
            x, y, w, h = result.box
            crop = frame[y : y + h, x : x + w]
            if not self.show and self.collector.due(count):
                self.collector.save(crop)
            annotated = self.collector_overlay(annotated)
        self.recorder.write(annotated)
        if self.preview:
            self.publish(annotated, result)
        return self.keys(show(annotated, count + 1), crop) if self.show else True

    def status_line(self, result: FrameResult) -> None:
        """Headless: a line on stderr every few seconds (after the frame is counted: Ctrl-C may follow it)."""
        if not self.show:
            self.status.maybe(lambda: f"frame {result.frame}: {_said(result)}  {result.fps:.1f} fps  "
                                      f"{result.ms:.1f} ms")

    def collector_overlay(self, annotated: np.ndarray) -> np.ndarray:
        assert self.collector is not None
        return draw_footer(annotated, self.collector.lines())

    def publish(self, annotated: np.ndarray, result: FrameResult) -> None:
        assert self.preview is not None
        ok, jpeg = cv2.imencode(".jpg", annotated, [cv2.IMWRITE_JPEG_QUALITY, 80])
        seen = cv2.imencode(".png", result.seen)[1].tobytes() if result.seen is not None else b""
        self.preview.publish(jpeg.tobytes() if ok else b"", status(result), seen)

    def keys(self, key: int, crop: np.ndarray | None) -> bool:
        """A window's key: q or Esc quits; with --collect, space saves the region and 1-9 pick the label."""
        if key in QUIT_KEYS:
            return False
        if self.collector and key == ord(" ") and crop is not None:
            self.collector.save(crop)
        elif self.collector:
            self.collector.select(key)
        return True

    def close(self) -> None:
        self.recorder.close()
        if self.collector:
            self.collector.close()
        if self.preview:
            self.preview.close()  # its viewers' streams end; the server is its owner's to stop
        if self.show:
            cv2.destroyAllWindows()


def _loop(cfg: LiveConfig, frames: EveryFrame | LatestFrame, step: FrameStep, outputs: Outputs, summary: Summary,
          emit: Callable[[FrameResult], None] | None) -> None:
    """Frames until the source ends, --max-frames, or a quit key."""
    while cfg.max_frames is None or summary.frames < cfg.max_frames:
        t0 = time.perf_counter()
        got: Frame | None = frames.get()
        if got is None:
            break
        summary.read_seconds += time.perf_counter() - t0
        result, annotated = step(got.image, got.captured, got.number)
        summary.ages_ms.append(result.age_ms)
        with whole():  # a stop waits for the frame to be recorded, counted and printed: the outputs and summary agree
            keep_going = outputs.deliver(got.image, result, annotated, summary.frames)
            summary.frames += 1
            summary.labels[result.label] += 1
            if emit:
                emit(result)
        outputs.status_line(result)
        if not keep_going:
            break


def start_line(source: VideoSource, outputs: Outputs) -> str:
    fps = f" @ {source.fps:.0f} fps" if source.fps else ""
    return (f"source {source.spec.kind} {escaped(source.spec.target)}: {source.size[0]}x{source.size[1]}{fps}; "
            f"{outputs.where()}")


def run(cfg: LiveConfig, emit: Callable[[FrameResult], None] | None = None,
        on_start: Callable[[str], None] | None = None, preview: Preview | None = None) -> Summary:
    """The loop. Ends at the end of a file, --max-frames, q/Esc in the window, Ctrl-C, SIGTERM or SIGHUP, or a
    source that fails after its first frame (Summary.source_error; before it, the SourceError); always cleans up.
    Each frame is published to `preview`, if given (fmnist.runtime.video.http serves it)."""
    classifier = Classifier(cfg.model, threads=cfg.threads, threshold=cfg.threshold)
    # SIGTERM/SIGHUP act as Ctrl-C from the claim of --record's name on: a stop while the source opens gives the
    # name back, one in the loop ends it with the recording finalized
    with stop_as_interrupt():
        source, outputs = _open(cfg, preview)
        frames = open_frames(source, cfg.realtime)
        # a live source never waits for a segmentation; a file read frame by frame gives every frame its label
        step = FrameStep(classifier, cfg.roi, cfg.smooth, background=isinstance(frames, LatestFrame))
        summary = Summary(size=source.size)
        for line in ([classifier.note] if classifier.note else []) + [start_line(source, outputs)]:
            if on_start:
                on_start(line)
        started = time.perf_counter()
        try:
            _loop(cfg, frames, step, outputs, summary, emit)
        except KeyboardInterrupt as e:
            summary.interrupted = True
            summary.stopped_by = e.args[0] if isinstance(e, Stopped) else "Ctrl-C"
        except SourceError as e:  # after frames were classified: the summary (and the recording) first, then this
            if not summary.frames:
                raise
            summary.source_error = str(e)
        finally:
            hold()  # no stop signal cuts the cleanup short
            summary.seconds, summary.skipped = time.perf_counter() - started, source.skipped
            if _close(summary, frames, step, outputs):
                source.release()  # never under a capture thread still inside a read
    return summary


def _open(cfg: LiveConfig, preview: Preview | None) -> tuple[VideoSource, Outputs]:
    """Claim --record's name, open the source, then the outputs; the name is given back if either fails."""
    check_new_recording(cfg.record)  # before the camera opens: the name is ours from here
    try:
        source = VideoSource(cfg.source)
    except BaseException:
        unclaim_recording(cfg.record)
        raise
    try:
        return source, Outputs(cfg, source.fps, preview)
    except BaseException:
        source.release()
        unclaim_recording(cfg.record)
        raise


def _close(summary: Summary, frames: EveryFrame | LatestFrame, step: FrameStep, outputs: Outputs) -> bool:
    """Stop reading, end the frame path and the outputs, and fill in what the summary learns from them. True when
    the reading has stopped (a capture thread stuck in a stream's read is left to its timeout)."""
    stopped = frames.stop()
    step.close()
    summary.dropped = frames.dropped
    summary.scene = step.preprocess.counts()
    summary.collected = dict(outputs.collector.saved) if outputs.collector else {}
    outputs.close()
    summary.recording_error = outputs.recorder.incomplete
    totals = {"read": summary.read_seconds, **step.seconds}
    summary.stage_ms = {k: round(v / max(1, summary.frames) * 1000, 2) for k, v in totals.items()}
    return stopped


def _said(result: FrameResult) -> str:
    """"Coat 87%", or "not sure (maybe Coat 63%)" as the preview page words it: a score above the threshold is not
    sure while the scene moves or is being segmented."""
    if result.sure or not result.top:
        return f"{result.label} {result.score:.0%}"
    best, score = result.top[0]
    return f"{result.label} (maybe {best} {score:.0%})"
