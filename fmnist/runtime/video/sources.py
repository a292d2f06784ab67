"""Video sources for `fmnist live`: anything cv2.VideoCapture opens (camera index or device, file, stream URL).

Files end; cameras and streams may drop, so they are reopened a few times with backoff before giving up. A file
source must be a regular file (a named pipe would block the open for ever) or a device. The open runs in a thread
of its own, so Ctrl-C and SIGTERM end the wait at once; a stream's open and reads time out besides. A source whose
frames are larger than MAX_FRAME_PIXELS is refused when it opens, and a frame over it (a stream that changes size)
before anything of fmnist's copies it; an MJPEG source is read as JPEG packets whose size is checked before they
are decoded (fmnist.runtime.video.frame_limits).
"""

from __future__ import annotations

import glob
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fmnist.core.errors import SourceError, escaped
from fmnist.core.quiet import quiet_stderr
from fmnist.runtime.video.frame_limits import check_frame, decode_packet, is_mjpeg, size_error

CAMERA_SIZE = (640, 480)  # asked of a camera; it may grant another
RETRIES = 3
BACKOFF_S = 0.5  # doubles after each failed reopen
OPEN_TIMEOUT_MS = 10_000  # a stream that does not answer (OpenCV's own default: 30 s)
READ_TIMEOUT_MS = 10_000  # a stream that stops sending: then reopened
WAIT_S = 0.05  # how often the wait for an open looks for a signal
RAW_TRIES = 3  # opens of an MJPEG source as packets before it is read decoded
BAD_PACKETS = 64  # MJPEG packets in a row that do not decode before the source counts as stopped


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


def checked(spec: SourceSpec) -> SourceSpec:
    """A file source that is a character device is a camera (a capture card's /dev node); any other file that is
    not a regular file (a named pipe, a socket, a folder) is refused before it is opened: a pipe would block the
    open for ever. A missing file is left to the open, which says what was tried."""
    if spec.kind == "stream" or isinstance(spec.target, int):
        return spec
    try:
        mode = os.stat(spec.target).st_mode
    except OSError:
        return spec
    if stat.S_ISCHR(mode):
        return SourceSpec("camera", spec.target)
    if spec.kind == "file" and stat.S_ISREG(mode):
        return spec
    what = "a regular file" if spec.kind == "file" else "a video device"
    raise SourceError(f"--source {escaped(spec.target)} is not {what} (a named pipe, a socket, a folder or a block "
                      "device); give a video file, a camera (an index or /dev/videoN) or a stream URL")


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


def _capture(spec: SourceSpec, raw: bool = False) -> cv2.VideoCapture:
    """cv2.VideoCapture: a stream's open and reads time out; `raw` hands out packets undecoded (FFmpeg only)."""
    params = [cv2.CAP_PROP_FORMAT, -1] if raw else []
    if spec.kind == "stream":
        params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
    return cv2.VideoCapture(spec.target, cv2.CAP_ANY, params) if params else cv2.VideoCapture(spec.target)


@dataclass
class Opened:
    capture: cv2.VideoCapture
    packets: bool = False  # MJPEG read as JPEG packets, decoded by fmnist


def _open(spec: SourceSpec) -> Opened:
    """The capture, opened or not. MJPEG is read as JPEG packets: a file or an HTTP stream (an IP camera) is opened
    as packets first and never decoded by FFmpeg; any other stream is opened decoded once (a tcp:// camera may take
    one connection only) and, if it turns out to be MJPEG, opened again as packets."""
    if spec.kind != "camera" and (spec.kind == "file" or str(spec.target).lower().startswith(("http://", "https://"))):
        return _packets_first(spec)
    capture = _capture(spec)
    if capture.isOpened() and spec.kind == "camera":
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, CAMERA_SIZE[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, CAMERA_SIZE[1])
    if spec.kind == "camera" or not capture.isOpened() or not is_mjpeg(capture):
        return Opened(capture)
    capture.release()  # first: a camera that serves one client at a time (an ESP32-CAM) must be free again
    return _packets_first(spec)


def _packets_first(spec: SourceSpec) -> Opened:
    """The source as MJPEG packets if it is MJPEG (tried RAW_TRIES times: a stream may be slow to answer again);
    decoded otherwise, each frame then checked once decoded."""
    for _ in range(RAW_TRIES):
        packets = _capture(spec, raw=True)
        if packets.isOpened() and is_mjpeg(packets):
            return Opened(packets, packets=True)
        answered = packets.isOpened()
        packets.release()
        if answered:  # not MJPEG
            break
    return Opened(_capture(spec))


def open_waiting(spec: SourceSpec) -> Opened:
    """_open in a thread, waited for here: OpenCV checks no signal while it opens (a stream that does not answer,
    a device that hangs), but this wait lets Ctrl-C, and SIGTERM inside stop_as_interrupt, through at once. A capture
    that opens after the wait was given up is released by its thread."""
    opened: list[Opened] = []
    lock, given_up = threading.Lock(), threading.Event()

    def work() -> None:
        result = _open(spec)
        with lock:
            opened.append(result)
            if given_up.is_set():
                result.capture.release()

    thread = threading.Thread(target=work, name="fmnist-open", daemon=True)
    with quiet_stderr():  # OpenCV and FFmpeg print their own errors; ours lists what was tried
        thread.start()
        try:
            while thread.is_alive():
                thread.join(WAIT_S)
        except BaseException:
            with lock:
                given_up.set()
                for result in opened:
                    result.capture.release()
            raise
    return opened[0]


class VideoSource:
    """Frames from one source; `read()` returns None at the end of a file, and raises when a live source is gone."""

    def __init__(self, source: str) -> None:
        self.source, self.spec = source, checked(parse_source(source))
        try:
            opened = open_waiting(self.spec)
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP inside stop_as_interrupt
            raise SourceError(f"--source {escaped(source)}: stopped by {e.args[0] if e.args else 'Ctrl-C'} while "
                              "it was opening; nothing was read") from None
        self.capture, self.packets = opened.capture, opened.packets
        if not self.capture.isOpened():
            raise SourceError(f"cannot open --source {escaped(source)}: tried {_tried(self.spec)}")
        self.size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 0.0
        error = size_error(f"--source {escaped(source)}", *self.size)
        if error:
            self.capture.release()
            raise error

    def read(self) -> np.ndarray | None:
        frame = self._next()
        if frame is not None:
            return frame
        if not self.spec.live:
            return None  # the end of the file
        return self._reopen()

    def _next(self) -> np.ndarray | None:
        """The next frame within the limits, or None when the capture gives none (the end, or a dropped stream). A
        packet that does not decode is skipped, up to BAD_PACKETS in a row."""
        for _ in range(BAD_PACKETS if self.packets else 1):
            ok, frame = self.capture.read()
            if not ok or frame is None or not frame.size:
                return None
            frame = decode_packet(frame, self.source) if self.packets else check_frame(frame, self.source)
            if frame is not None:
                return frame
        return None

    def _reopen(self) -> np.ndarray:
        delay = BACKOFF_S
        for _ in range(RETRIES):
            self.capture.release()
            time.sleep(delay)
            delay *= 2
            with quiet_stderr():
                opened = _open(self.spec)
            self.capture, self.packets = opened.capture, opened.packets
            frame = self._next() if self.capture.isOpened() else None
            if frame is not None:
                return frame
        raise SourceError(f"{self.spec.kind} {self.spec.target!r} stopped sending frames and did not come back "
                          f"after {RETRIES} retries; check the cable, the network or the device")

    def release(self) -> None:
        self.capture.release()
