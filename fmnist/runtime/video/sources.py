"""Video sources for `fmnist live`: anything cv2.VideoCapture opens (camera index or device, file, stream URL).

Files end; cameras and streams may drop, so they are reopened a few times with backoff before giving up. A file
source must be a regular file (a named pipe would block the open for ever) or a device; a `file:` URL is its path,
and any other FFmpeg protocol than the stream schemes (concat:, subfile:, pipe:, data:, ...) is refused. The open runs
in a thread of its own, so Ctrl-C and SIGTERM end the wait at once; a stream's tries to open share one deadline, and
its reads time out besides. A file's packets that do not decode are skipped and counted; a file none of whose packets
decodes is an error. FFmpeg's and OpenCV's own log lines are muted for the process (not fd 2, which is everyone's:
a thread that pointed it at /dev/null while it reopened a stream swallowed the summary). A source whose
frames are larger than MAX_FRAME_PIXELS is refused when it opens, and a frame over it (a stream that changes size)
before anything of fmnist's copies it; a source of still images (MJPEG, PNG, TIFF, WebP, BMP) is read as image
packets whose header is checked before they are decoded (fmnist.runtime.video.frame_limits), and one of still images
whose header fmnist does not read is refused (fmnist.runtime.video.still_images).
"""

from __future__ import annotations

import glob
import math
import os
import re
import stat
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fmnist.core.errors import SourceError, UsageError, escaped, printable
from fmnist.runtime.video.frame_limits import check_frame, decode_packet, size_error
from fmnist.runtime.video.still_images import (
    PACKET_SUFFIXES,
    check_name,
    check_video_container,
    first_packet_is_image,
    is_sequence,
    reads_as_packets,
    suffix,
    untagged,
)

CAMERA_SIZE = (640, 480)  # asked of a camera; it may grant another
RETRIES = 3
BACKOFF_S = 0.5  # doubles after each failed reopen
OPEN_TIMEOUT_MS = 10_000  # all the tries to open a stream, or to reopen it, together (OpenCV's own: 30 s a try)
READ_TIMEOUT_MS = 10_000  # a stream that stops sending: then reopened
WAIT_S = 0.05  # how often the wait for an open looks for a signal
RAW_TRIES = 3  # opens of an MJPEG source as packets before it is read decoded (a refused connection is tried again)
BAD_PACKETS = 64  # a stream's MJPEG packets in a row that do not decode before it counts as stopped (a file: no cap)
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "tcp", "udp")  # what --source's help names, and TLS
# what FFmpeg takes for a protocol name before a colon (libavformat's URL_SCHEME_CHARS); "subfile," is its other form
_PROTOCOL = re.compile(r"^(?:([A-Za-z0-9+.-]+):|subfile,)")


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "camera", "file" or "stream"
    target: int | str  # what cv2.VideoCapture gets

    @property
    def live(self) -> bool:
        return self.kind != "file"


def parse_source(source: str) -> SourceSpec:
    """What --source names. FFmpeg reads a name that starts `word:` as a protocol, so a stream scheme is a stream,
    `file:` is the file at its path (checked as any file), and any other protocol is refused (exit 2): concat: and
    subfile: open files behind the regular-file check, pipe: and fd: read descriptors, data: bytes in the name."""
    if source.isdigit():
        return SourceSpec("camera", int(source))
    if source.startswith("/dev/video"):
        return SourceSpec("camera", source)
    protocol = _PROTOCOL.match(source)
    if protocol is None:
        return SourceSpec("file", source)
    if "://" not in source and os.path.lexists(source):  # a file named with a colon (2024-01-01T10:00:00.avi):
        return SourceSpec("file", os.path.abspath(source))  # its whole path, which FFmpeg takes for no protocol
    scheme = (protocol.group(1) or "subfile").lower()
    if scheme in STREAM_SCHEMES:  # FFmpeg's protocol names are lower case: HTTP://… is http://…
        return SourceSpec("stream", scheme + source[len(scheme):])
    if scheme == "file":
        return SourceSpec("file", _file_url_path(source))
    raise UsageError(f"--source {escaped(source)}: {scheme}: is not a stream fmnist reads; give a video file (./NAME "
                     f"if its name has a colon), a camera or a stream URL ({', '.join(STREAM_SCHEMES)})")


def _file_url_path(source: str) -> str:
    """The path a file: URL names: file:///a/b%20c and file://localhost/a/b%20c are /a/b c (RFC 8089); file:/a and
    file:a are FFmpeg's own form, the rest taken as it is. A file: URL naming another host is refused (exit 2)."""
    if not source[len("file:"):].startswith("//"):
        return os.path.abspath(source[len("file:"):] or ".")
    parts = urllib.parse.urlsplit(source)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"--source {escaped(source)}: a file: URL on another host ({escaped(parts.netloc)}); give a "
                         "path on this machine, or a stream URL")
    return os.path.abspath(urllib.parse.unquote(parts.path) or "/")


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
    return (f"stream {spec.target} (unreachable, refused, not a video stream, or no frame within "
            f"{OPEN_TIMEOUT_MS // 1000} s)")


def mute_native_logs() -> None:
    """FFmpeg's log (a refused connection, a packet that does not decode) and OpenCV's warnings (a stream's timeout)
    off for this process, rather than fd 2 pointed at /dev/null while a source opens: a capture thread that did so
    swallowed the main thread's lines. FFmpeg reads OPENCV_FFMPEG_LOGLEVEL once, at OpenCV's first FFmpeg capture;
    a user's own setting of it, or of OPENCV_LOG_LEVEL, is kept."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def pace_fps(fps: float) -> float:
    """The rate to play a file at, as a camera would give it: its own declared rate (a 240 fps slow-motion clip, a
    0.5 fps timelapse), held to 0.5-1000 fps, so that a declared 1e-5 fps cannot hold a frame for a day; 30 when it
    declares none."""
    return min(max(fps, 0.5), 1000.0) if math.isfinite(fps) and fps > 0 else 30.0


def deadline_for(spec: SourceSpec) -> float | None:
    """When the tries to open a stream give up (time.monotonic()); None for a file or a camera, which do not wait."""
    return time.monotonic() + OPEN_TIMEOUT_MS / 1000 if spec.kind == "stream" else None


def _left_ms(deadline: float | None) -> int | None:
    return None if deadline is None else int((deadline - time.monotonic()) * 1000)


def _capture(spec: SourceSpec, raw: bool = False, deadline: float | None = None) -> cv2.VideoCapture:
    """cv2.VideoCapture: a stream's open waits until `deadline` at most and its reads time out; `raw` hands out
    packets undecoded (FFmpeg only). A stream whose deadline has passed is not opened (a closed capture)."""
    params = [cv2.CAP_PROP_FORMAT, -1] if raw else []
    left = _left_ms(deadline)
    if left is not None and left <= 0:
        return cv2.VideoCapture()
    if spec.kind == "stream":
        timeout = OPEN_TIMEOUT_MS if left is None else left
        params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
    return cv2.VideoCapture(spec.target, cv2.CAP_ANY, params) if params else cv2.VideoCapture(spec.target)


@dataclass
class Opened:
    capture: cv2.VideoCapture
    packets: bool = False  # still images (MJPEG's JPEGs, PNGs...) read as packets, header-checked, decoded by fmnist
    first: np.ndarray | None = None  # a packet read to tell what the source is, not yet handed out


def _open(spec: SourceSpec, deadline: float | None = None) -> Opened:
    """The capture, opened or not. MJPEG is read as JPEG packets: a file or an HTTP stream (an IP camera) is opened
    as packets first and never decoded by FFmpeg; any other stream is opened decoded once (a tcp:// camera may take
    one connection only) and, if it turns out to be MJPEG, opened again as packets. A stream's tries all end by
    `deadline`."""
    if spec.kind != "camera" and (spec.kind == "file" or str(spec.target).lower().startswith(("http://", "https://"))):
        return _packets_first(spec, deadline)
    capture = _capture(spec, deadline=deadline)
    if capture.isOpened() and spec.kind == "camera":
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, CAMERA_SIZE[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, CAMERA_SIZE[1])
    if spec.kind == "camera" or not _reads_as_images(capture):
        return Opened(capture)
    capture.release()  # first: a camera that serves one client at a time (an ESP32-CAM) must be free again
    return _packets_first(spec, deadline)


def _packets_first(spec: SourceSpec, deadline: float | None = None) -> Opened:
    """The source as MJPEG packets if it is MJPEG (tried RAW_TRIES times: a stream may refuse a connection while it
    frees the last one); decoded otherwise, each frame then checked once decoded. A try that timed out leaves no
    time to the others: they share `deadline`. A stream that answered (not MJPEG) is opened decoded with a deadline of
    its own: a camera slow to answer (6 s) used most of the first."""
    for _ in range(RAW_TRIES):
        packets = _capture(spec, raw=True, deadline=deadline)
        if _reads_as_images(packets):
            return Opened(packets, packets=True)
        if untagged(packets):
            return _untagged(spec, packets)
        answered = packets.isOpened()
        packets.release()
        if answered:  # not MJPEG
            return Opened(_capture(spec, deadline=deadline_for(spec)))
    return Opened(_capture(spec, deadline=deadline))


def _reads_as_images(capture: cv2.VideoCapture) -> bool:
    """Is the opened capture a source of still images read as checked packets (still_images.reads_as_packets)?
    Released if its codec is refused."""
    try:
        return capture.isOpened() and reads_as_packets(capture)
    except SourceError:
        capture.release()
        raise


def _untagged(spec: SourceSpec, packets: cv2.VideoCapture) -> Opened:
    """A source whose codec has no tag (still_images): a .bmp sequence is BMP frames, read as packets; one whose first
    packet is an image fmnist reads is too (that packet first); otherwise raw video, opened again decoded (with a
    deadline of its own, as it answered), if a local file is a video container; refused if it is not."""
    name = str(spec.target)
    if spec.kind == "file" and is_sequence(name) and suffix(name) in PACKET_SUFFIXES:
        return Opened(packets, packets=True)
    try:
        ok, first = packets.read()
        size = int(packets.get(cv2.CAP_PROP_FRAME_WIDTH)), int(packets.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if ok and first is not None and first_packet_is_image(first, *size):
            return Opened(packets, packets=True, first=first)
        if spec.kind == "file":
            check_video_container(name)
    except BaseException:
        packets.release()
        raise
    packets.release()
    return Opened(_capture(spec, deadline=deadline_for(spec)))


def _said(error: SourceError | cv2.error) -> str:
    """What a refusal says, or OpenCV's last line of a failure to open."""
    if isinstance(error, SourceError):
        return str(error)
    return f"OpenCV failed to open it ({printable((str(error).strip().splitlines() or ['?'])[-1], 200)})"


def open_waiting(spec: SourceSpec, deadline: float | None = None) -> Opened:
    """_open in a thread, waited for here: OpenCV checks no signal while it opens (a stream that does not answer,
    a device that hangs), but this wait lets Ctrl-C, and SIGTERM inside stop_as_interrupt, through at once. A capture
    that opens after the wait was given up is released by its thread; a source refused as it opens (SourceError) is
    raised here."""
    opened: list[Opened] = []
    refused: list[SourceError] = []
    lock, given_up = threading.Lock(), threading.Event()

    def work() -> None:
        try:
            result = _open(spec, deadline)
        except SourceError as e:
            refused.append(e)
            return
        except cv2.error as e:  # OpenCV's own failure on a source it half opened: one error line, not a traceback
            refused.append(SourceError(_said(e)))
            return
        with lock:
            opened.append(result)
            if given_up.is_set():
                result.capture.release()

    thread = threading.Thread(target=work, name="fmnist-open", daemon=True)
    thread.start()  # OpenCV's and FFmpeg's own errors are muted (mute_native_logs); ours lists what was tried
    try:
        while thread.is_alive():
            thread.join(WAIT_S)
    except BaseException:
        with lock:
            given_up.set()
            for result in opened:
                result.capture.release()
        raise
    if refused:
        raise SourceError(f"--source {escaped(spec.target)}: {refused[0]}")
    return opened[0]


class VideoSource:
    """Frames from one source; `read()` returns None at the end of a file, and raises when a live source is gone."""

    def __init__(self, source: str) -> None:
        self.source, self.spec = source, checked(parse_source(source))
        if self.spec.kind == "file":
            check_name(source, str(self.spec.target))
        self.delivered, self.skipped = 0, 0  # frames read; a file's packets that did not decode
        self.stopping = threading.Event()  # set by the reader's owner: a reopen under way gives up
        mute_native_logs()
        try:
            opened = open_waiting(self.spec, deadline_for(self.spec))
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP inside stop_as_interrupt
            raise SourceError(f"--source {escaped(source)}: stopped by {e.args[0] if e.args else 'Ctrl-C'} while "
                              "it was opening; nothing was read") from None
        self.capture, self.packets, self.first = opened.capture, opened.packets, opened.first
        if not self.capture.isOpened():
            raise SourceError(f"cannot open --source {escaped(source)}: tried {_tried(self.spec)}")
        self.size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 0.0
        error = size_error(f"--source {escaped(source)}", *self.size)
        if error:
            self.capture.release()
            raise error

    def read(self) -> np.ndarray | None:
        """The next frame; None at the end of a file (an error if none of it decoded), or once `stopping` is set
        while a live source is reopened."""
        frame = self._next()
        if frame is None and not self.spec.live:
            if not self.delivered:
                raise self._undecodable()
            return None  # the end of the file
        frame = self._reopen() if frame is None else frame
        self.delivered += frame is not None
        return frame

    def _undecodable(self) -> SourceError:
        packets = f"none of its {self.skipped} packets decodes" if self.skipped else "OpenCV decodes no frame of it"
        return SourceError(f"--source {escaped(self.source)}: {packets} as a frame; is it a damaged video?")

    def _next(self) -> np.ndarray | None:
        """The next frame within the limits, or None when the capture gives none (the end, or a dropped stream). A
        packet that does not decode is skipped and counted: in a file, all of them (the frames after them are
        read); in a stream, up to BAD_PACKETS in a row, after which it counts as dropped."""
        bad = 0
        while not self.spec.live or bad < BAD_PACKETS:
            ok, frame = (True, self.first) if self.first is not None else self.capture.read()
            self.first = None
            if not ok or frame is None or not frame.size:
                return None
            frame = decode_packet(frame, self.source) if self.packets else check_frame(frame, self.source)
            if frame is not None:
                return frame
            bad, self.skipped = bad + 1, self.skipped + (not self.spec.live)
        return None

    def _reopen(self) -> np.ndarray | None:
        """A dropped camera or stream opened again: up to RETRIES tries after backoff, a stream's all within one
        OPEN_TIMEOUT_MS; None as soon as `stopping` is set (the run is ending)."""
        delay, deadline, tries = BACKOFF_S, deadline_for(self.spec), 0
        while tries < RETRIES:
            self.capture.release()
            if self.stopping.wait(delay):
                return None
            delay, tries = delay * 2, tries + 1
            try:
                opened = _open(self.spec, deadline)
            except (SourceError, cv2.error) as e:  # a stream that came back as frames fmnist refuses, or OpenCV failed
                raise SourceError(f"--source {escaped(self.source)}: {_said(e)}") from None
            self.capture, self.packets, self.first = opened.capture, opened.packets, opened.first
            frame = self._next() if self.capture.isOpened() and not self.stopping.is_set() else None
            if frame is not None or self.stopping.is_set():
                return frame
            if deadline is not None and time.monotonic() >= deadline:
                break
        within = f" within {OPEN_TIMEOUT_MS // 1000} s" if deadline is not None else ""
        raise SourceError(f"{self.spec.kind} {self.spec.target!r} stopped sending frames and did not come back after "
                          f"{tries} {'retry' if tries == 1 else 'retries'}{within}; check the cable, the network or "
                          "the device")

    def release(self) -> None:
        self.capture.release()
