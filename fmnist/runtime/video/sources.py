"""Video sources for `fmnist live`: anything cv2.VideoCapture opens (camera index or device, file, stream URL).

Files end; cameras and streams may drop, so they are reopened a few times with backoff before giving up.
"""

from __future__ import annotations

import glob
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fmnist.core.errors import SourceError
from fmnist.core.quiet import quiet_stderr

CAMERA_SIZE = (640, 480)  # asked of a camera; it may grant another
RETRIES = 3
BACKOFF_S = 0.5  # doubles after each failed reopen


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "camera", "file" or "stream"
    target: int | str  # what cv2.VideoCapture gets

    @property
    def live(self) -> bool:
        return self.kind != "file"


def parse_source(source: str) -> SourceSpec:
    if source.isdigit():
        return SourceSpec("camera", int(source))
    if source.startswith("/dev/video"):
        return SourceSpec("camera", source)
    if "://" in source:
        return SourceSpec("stream", source)
    return SourceSpec("file", source)


def _tried(spec: SourceSpec) -> str:
    if spec.kind == "camera":
        devices = sorted(glob.glob("/dev/video*"))
        found = ", ".join(devices) if devices else "no /dev/video* devices on this machine"
        return (f"camera {spec.target!r} through V4L2 ({found}); a Raspberry Pi camera module needs "
                "rpicam-vid streaming to tcp:// (see docs/raspberry-pi.md)")
    if spec.kind == "file":
        exists = Path(str(spec.target)).is_file()
        return f"video file {spec.target} ({'exists, but OpenCV cannot decode it' if exists else 'no such file'})"
    return f"stream {spec.target} (unreachable, refused, or not a video stream)"


def _open(spec: SourceSpec) -> cv2.VideoCapture:
    with quiet_stderr():  # OpenCV and FFmpeg print their own errors; ours lists what was tried
        capture = cv2.VideoCapture(spec.target)
        if capture.isOpened() and spec.kind == "camera":
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, CAMERA_SIZE[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, CAMERA_SIZE[1])
    return capture


class VideoSource:
    """Frames from one source; `read()` returns None at the end of a file, and raises when a live source is gone."""

    def __init__(self, source: str) -> None:
        self.spec = parse_source(source)
        self.capture = _open(self.spec)
        if not self.capture.isOpened():
            raise SourceError(f"cannot open --source {source}: tried {_tried(self.spec)}")
        self.size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 0.0

    def read(self) -> np.ndarray | None:
        ok, frame = self.capture.read()
        if ok and frame is not None and frame.size:
            return frame
        if not self.spec.live:
            return None  # the end of the file
        return self._reopen()

    def _reopen(self) -> np.ndarray:
        delay = BACKOFF_S
        for _ in range(RETRIES):
            self.capture.release()
            time.sleep(delay)
            delay *= 2
            self.capture = _open(self.spec)
            ok, frame = self.capture.read() if self.capture.isOpened() else (False, None)
            if ok and frame is not None and frame.size:
                return frame
        raise SourceError(f"{self.spec.kind} {self.spec.target!r} stopped sending frames and did not come back "
                          f"after {RETRIES} retries; check the cable, the network or the device")

    def release(self) -> None:
        self.capture.release()
