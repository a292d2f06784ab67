"""Where `fmnist live` sends each annotated frame besides its result: a window (with its keys), a recording,
and a status line on stderr when headless. The MJPEG preview is fmnist.runtime.video.preview, served by
fmnist.runtime.video.http."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import cv2
import numpy as np

from fmnist.core import atomic
from fmnist.core.errors import SourceError, UsageError
from fmnist.core.quiet import quiet_stderr

WINDOW = "fmnist live (q: quit, s: snapshot)"
QUIT_KEYS = (ord("q"), 27)
RECORDED = (".mp4", ".avi")  # --record's containers: mp4v in .mp4, MJPG in .avi


def display_available(env: Mapping[str, str] | None = None, probe: Callable[[], bool] | None = None) -> bool:
    """Is there a screen to show a window on? No $DISPLAY/$WAYLAND_DISPLAY, or a failing window, means no."""
    env = os.environ if env is None else env
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return False
    return (probe or _probe_window)()


def _probe_window() -> bool:
    if not _has_gui() or not _window_opens_in_a_child():
        return False
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE)
        return True
    except cv2.error:  # a display that refuses us
        return False


def _has_gui() -> bool:
    """Does this OpenCV build show windows at all? opencv-python-headless (the base install's) does not."""
    return re.search(r"^\s*GUI:\s*NONE\s*$", cv2.getBuildInformation(), re.MULTILINE) is None


# the child ends itself (SIGALRM) should its parent be killed while a display hangs it
PROBE = ("import signal\nsignal.alarm(15)\nimport cv2\ncv2.namedWindow('fmnist: is there a screen?')\n"
         "cv2.destroyAllWindows()\n")
PROBE_SECONDS = 10.0


def _window_opens_in_a_child() -> bool:
    """Does a window open, asked in a child process? opencv-python's Qt aborts the process that asks when
    $DISPLAY or $WAYLAND_DISPLAY names a display it cannot reach (a stale DISPLAY over ssh, a unit started before
    the desktop), where a failure should mean headless."""
    try:
        done = subprocess.run([sys.executable, "-I", "-c", PROBE], capture_output=True,  # -I: no ./cv2.py
                              timeout=PROBE_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def show(annotated: np.ndarray, frame: int) -> int:
    """Show a frame; returns the key pressed (-1 for none). s saves a snapshot into the current folder."""
    cv2.imshow(WINDOW, annotated)
    key = cv2.waitKey(1) & 0xFF
    if key == ord("s"):
        ok, jpeg = cv2.imencode(".jpg", annotated)
        stem = f"snapshot-{time.strftime('%Y%m%d-%H%M%S')}-{frame}"
        if ok:
            print(f"saved {atomic.write_new(jpeg.tobytes(), atomic.free_names(Path.cwd(), stem, '.jpg'))}",
                  file=sys.stderr)
    return key


# --record's names this process holds: the empty file each was claimed with (fmnist.core.atomic.Claim), until the
# finished recording takes its place or the name is given back
_CLAIMS: dict[Path, atomic.Claim] = {}


def _key(path: Path) -> Path:
    return Path(os.path.abspath(path))


def check_new_recording(path: Path | None) -> None:
    """Claim --record's path before anything opens: an empty file made exclusively (no symlink followed), so a
    file that is there, or appears there, stays the user's and is never recorded over. The recording itself is
    written beside it under a hidden name (Recorder) and takes this name only once it is finished and checked: a
    run killed outright (SIGKILL, a power cut) leaves this empty file, never a half-written recording."""
    if path is None:
        return
    if path.suffix.lower() not in RECORDED:
        raise UsageError(f"--record {path}: fmnist records .mp4 or .avi files; give a name ending in one of them")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _CLAIMS[_key(path)] = atomic.claim_name(path)
    except FileExistsError:
        raise UsageError(_taken(path)) from None
    except OSError as e:
        raise UsageError(f"--record {path}: cannot create it ({e.strerror or e}); choose another place") from None


def _taken(path: Path) -> str:
    """The refusal of a --record name that is taken; an empty file there is most likely the claim of a run that
    was killed, and the line says how to free it."""
    why = f"--record {path}: the file exists; choose a new name or move it away (fmnist never records over a file)"
    try:
        empty = path.is_file() and not path.is_symlink() and path.stat().st_size == 0
    except OSError:
        empty = False
    if not empty:
        return why
    left = sorted(p.name for p in path.parent.glob(f".{glob.escape(path.stem)}.*.part{glob.escape(path.suffix)}"))
    partial = f"; its unfinished frames, if any, are in {', '.join(left[:3])} beside it" if left else ""
    return (f"{why}. It is empty, as a recording leaves its name when it is killed outright (SIGKILL, a power cut)"
            f"{partial}: delete it (rm {path}) to record under this name again")


def unclaim_recording(path: Path | None) -> None:
    """Give back the name check_new_recording claimed, when nothing was recorded: its empty file is removed if it
    is still that file (a file put there since is left as it is)."""
    claim = _CLAIMS.pop(_key(path), None) if path is not None else None
    if claim is not None:
        atomic.release_claim(claim)


class Recorder:
    """--record: an .mp4 or .avi opened at the first frame (its size), finalized by close() even after Ctrl-C,
    SIGTERM or SIGHUP. It is written under a hidden temporary name beside `path` (same suffix, so the same
    container) and renamed to `path` only once finalized and checked, over the empty file that claimed the name
    (check_new_recording), never over another. OpenCV's writer says nothing when a write fails (a full disk), so
    close() checks the finished file: `incomplete` then says it is not whole, and where what was written is kept."""

    def __init__(self, path: Path | None, fps: float) -> None:
        self.path, self.fps = path, fps
        self.temp: Path | None = None  # the recording while it is written
        self.writer: cv2.VideoWriter | None = None
        self.size = (0, 0)  # (width, height) of the recording: its first frame's
        self.frames = 0
        self.incomplete = ""  # after close(): why the recording does not hold every frame written, if it does not

    def write(self, frame: np.ndarray) -> None:
        if self.path is None:
            return
        size = (frame.shape[1], frame.shape[0])
        if self.writer is None:
            self.temp = atomic.new_temp(self.path, "part")  # .NAME.<random>.part.SUFFIX
            try:
                self.writer, self.size = _writer(self.temp, size, self.fps, self.path), size
            except BaseException:
                self.temp.unlink(missing_ok=True)
                self.temp = None
                raise
        # a stream that reopens at another resolution: its frames are scaled to the recording's (the writer drops
        # a frame of another size without a word)
        self.writer.write(frame if size == self.size else cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA))
        self.frames += 1

    def close(self) -> None:
        if self.writer is None or self.path is None or self.temp is None:
            unclaim_recording(self.path)  # no frame came
            return
        self.writer.release()  # finalizes the container: the recording plays after Ctrl-C too
        if not holds_every_frame(self.temp, self.frames):
            unclaim_recording(self.path)
            self.incomplete = (f"--record {self.path}: the file is incomplete: not all of the {self.frames} frames "
                               f"written reached it (is the disk full?); what did is kept as {self.temp}")
        elif not atomic.fill_claim(self.temp, _CLAIMS.pop(_key(self.path), None), self.path):
            self.incomplete = (f"--record {self.path}: another file was put under this name while recording; it is "
                               f"left as it was, and the recording is kept as {self.temp}")


def holds_every_frame(path: Path, frames: int) -> bool:
    """Does the finished recording declare `frames` frames and play its last one? An .mp4 cut short has no index
    and does not open; an .avi's header still counts every frame, but its last ones are missing. A count the
    reader cannot tell (0 or less) leaves the seek to decide. One seek: about 60 ms, however long the recording. An
    .avi (MJPG) is read first by OpenCV's own MJPEG reader, not FFmpeg: an FFmpeg open waits for OpenCV's global
    FFmpeg lock, which a stalled stream's reopen holds until its timeout, and the stop must not wait for it. That
    reader sees only an .avi's first RIFF section (about 1 GB: FFmpeg's writer starts an OpenDML one after it), so an
    .avi it finds short is read again by FFmpeg. It prints a file cut short's bytes to fd 2 as it refuses it, so fd 2
    is muted for its open (the main thread's own moment)."""
    if frames == 0:
        return True
    if path.suffix.lower() == ".avi" and _plays_last(path, frames, cv2.CAP_OPENCV_MJPEG):
        return True
    return _plays_last(path, frames, cv2.CAP_ANY)


def _plays_last(path: Path, frames: int, backend: int) -> bool:
    """Does `backend` read `path` as holding `frames` frames, the last one playing?"""
    with quiet_stderr():
        capture = cv2.VideoCapture(str(path), backend)
    try:
        if not capture.isOpened():
            return False
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if 0 < declared < frames:
            return False
        capture.set(cv2.CAP_PROP_POS_FRAMES, frames - 1)
        return bool(capture.read()[0])
    finally:
        capture.release()


def _writer(path: Path, size: tuple[int, int], fps: float, shown: Path) -> cv2.VideoWriter:
    """OpenCV's writer into `path` (the hidden file the recording is made in); an error names `shown`, --record's."""
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps if 1 <= fps <= 120 else 15.0, size)
    if not writer.isOpened():
        raise SourceError(f"cannot record to {shown}: OpenCV has no writer for it; use .mp4 or .avi")
    return writer


class StatusLine:
    """Headless: one line on stderr every `every_s` seconds."""

    def __init__(self, every_s: float) -> None:
        self.every_s, self.last = every_s, 0.0

    def maybe(self, text: Callable[[], str]) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            print(text(), file=sys.stderr, flush=True)
