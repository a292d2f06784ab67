"""`fmnist live --collect DIR`: save the region of interest of camera frames as photos for your own classes.

Each photo is the raw crop of the region live classifies, the guide box and its margin (fmnist.runtime.video.step;
full resolution, not the model's prepared input), so either tier and a better preprocessing later can still use it,
saved as DIR/<label>/<label>-<time>-<n>.jpg by an atomic write (a temp file, then a link: an interrupted run never
leaves half a JPEG, and a name another run took is never replaced). With a window, keys 1-9 choose the label and
space saves; headless, every Nth frame is saved under one label. A full disk stops collection with a clear error;
what was saved stays.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from fmnist.core import atomic
from fmnist.core.errors import FmnistError, UsageError
from fmnist.core.meta import MAX_LABELS, printing_alike, same_name

JPEG_QUALITY = 92
MAX_KEYED = 9  # labels reachable with the number keys


class CollectError(FmnistError):
    """The collection folder cannot take more photos (read-only, full disk)."""


MAX_LABEL_CHARS = 64  # a folder name, and a label live draws on the frame
MAX_LABEL_BYTES = 200  # a photo's name adds 26 bytes (-YYYYmmdd-HHMMSS-NNNNN.jpg) within a file system's 255


def check_label(name: str) -> str:
    """A label `--collect` saves under: a folder name of 1 to MAX_LABEL_CHARS printable characters and at most
    MAX_LABEL_BYTES in UTF-8. Bytes that are not UTF-8 (Python's surrogate escapes) are not printable: OpenCV's
    text drawing crashes on them."""
    name = name.strip()
    if (not name or name in (".", "..") or any(c in name for c in '/\\:*?"<>|') or name.startswith(".")
            or not name.isprintable() or len(name) > MAX_LABEL_CHARS or len(name.encode()) > MAX_LABEL_BYTES):
        raise UsageError(f"label {name!r:.80} cannot be a folder name; use up to {MAX_LABEL_CHARS} printable "
                         f"characters and at most {MAX_LABEL_BYTES} bytes in UTF-8, none of / \\ : * ? \" < > |, "
                         "not starting with '.'")
    return name


def _alike(root: Path, label: str) -> str | None:
    """A folder already in `root` that prints as `label` but is not named so, if there is one."""
    try:
        names = [p.name for p in root.iterdir()] if root.is_dir() else []
    except OSError:
        return None  # the write probe says why
    return next((n for n in names if n != label and same_name(n) == same_name(label)), None)


def _missing(folder: Path) -> list[Path]:
    """The folders mkdir(parents=True) makes for `folder`, outermost first, as absolute paths: those on its way that
    do not exist yet. In `new/../e`, `new/..` and `new/../e` do not exist while `new` does not, yet they name `.`
    and `e`, which may: only `new` is made."""
    missing = []
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        if not os.path.lexists(os.path.abspath(folder)):
            missing.append(Path(os.path.abspath(folder)))
        folder = folder.parent
    return missing[::-1]


def parse_labels(text: str) -> list[str]:
    labels = [check_label(x) for x in text.split(",") if x.strip()]
    if not labels or len(labels) > MAX_LABELS or printing_alike(labels):
        raise UsageError(f"--collect-labels takes 1 to {MAX_LABELS} distinct comma-separated names, got {text!r}")
    return labels


def collect_labels(folder: Path | None, labels: str | None, label: str | None) -> tuple[str, ...]:
    """The labels `live --collect DIR` saves under: --collect-labels a,b,c (a window, keys 1-9) or --collect-label
    NAME (headless), exactly one of them and only with a folder; () without one. UsageError otherwise."""
    if (labels or label) and not folder:
        raise UsageError("--collect-labels and --collect-label go with --collect DIR")
    if not folder:
        return ()
    if bool(labels) == bool(label):
        raise UsageError("--collect needs --collect-labels a,b,c (a window, keys 1-9) or --collect-label NAME "
                         "(headless)")
    return tuple(parse_labels(labels)) if labels else (check_label(label or ""),)


class Collector:
    """Saves crops under root/<label>/ and counts them (the photos already there included)."""

    def __init__(self, root: Path, labels: list[str], every: int = 1) -> None:
        self.root, self.labels, self.every = Path(root), [check_label(x) for x in labels], max(1, every)
        self.current = self.labels[0]
        self.saved: Counter[str] = Counter()  # this run, per label
        self.counts = {}
        self.made = [*_missing(self.root), *(Path(os.path.abspath(self.root / x)) for x in self.labels
                                              if not os.path.lexists(os.path.abspath(self.root / x)))]
        try:
            for label in self.labels:
                self.counts[label] = self._open(label)
        except CollectError:
            self.close()  # the folders this run made for the labels before the one refused
            raise

    def _open(self, label: str) -> int:
        """Make (or check) root/<label> and probe that it takes a file; how many photos it already holds."""
        folder = self.root / label
        other = _alike(self.root, label)
        if other is not None:
            raise CollectError(f"cannot collect {label!r} into {self.root}: its folder {other!r} prints alike "
                               "(another Unicode form); give the label as that folder is named")
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise CollectError(f"cannot collect into {folder}: it is a {'link' if folder.is_symlink() else 'file'}"
                               ", not a folder; move it away or choose another --collect folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".fmnist-probe-"):
                pass
        except OSError as e:
            raise CollectError(f"cannot collect into {folder}: {e.strerror or e}; choose a folder you can "
                               "write to") from e
        return sum(1 for p in folder.iterdir() if p.suffix.lower() == ".jpg"
                   and not p.name.startswith("."))  # not a temp file a killed run left

    def select(self, key: int) -> bool:
        """A number key (1-9) picks the label; True if it did."""
        index = key - ord("1")
        if 0 <= index < min(len(self.labels), MAX_KEYED):
            self.current = self.labels[index]
            return True
        return False

    def due(self, frame: int) -> bool:
        """Headless: is this frame one to save?"""
        return frame % self.every == 0

    def save(self, crop: np.ndarray, label: str | None = None) -> Path:
        label = label or self.current
        ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise CollectError(f"OpenCV could not encode a {crop.shape} crop as JPEG")
        folder = self.root / label
        stem = f"{label}-{time.strftime('%Y%m%d-%H%M%S')}-{self.counts[label]:05d}"
        try:  # another run collecting into the same folder may take a name first: then the next free one
            path = atomic.write_new(jpeg.tobytes(), atomic.free_names(folder, stem, ".jpg"))
        except FmnistError as e:
            cause = e.__cause__
            full = isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)
            reason = "the disk is full" if full else str(cause or e)
            raise CollectError(f"stopped collecting: {reason} ({folder}); the {self.saved.total()} photo(s) saved "
                               "so far are kept") from e
        self.counts[label] += 1
        self.saved[label] += 1
        return path

    def close(self) -> None:
        """Remove the folders this run made and saved nothing into (a run refused at its first frame, stopped at
        once), the parents --collect's path needed included: an empty class folder would be a label with no photos.
        A folder with anything in it stays."""
        for folder in reversed(self.made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only an empty one

    def lines(self) -> list[str]:
        """For the overlay: the label space saves under, and the count of each label."""
        counts = "  ".join(f"{i + 1}:{name} {self.counts[name]}" if i < MAX_KEYED else f"{name} {self.counts[name]}"
                           for i, name in enumerate(self.labels))
        return [f"collect: {self.current} (space saves)", counts]
