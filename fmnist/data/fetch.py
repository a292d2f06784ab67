"""`fmnist data fetch`: download the four official IDX files, check them, and move them into place.

All four stream into a private temporary folder inside the destination, each at most MAX_IDX_BYTES and at least
MIN_RATE bytes a second over any `timeout` seconds, and are checked (length, MD5, IDX structure and count). Only
when all four pass are they moved into place, each taking its name only if the name is free or holds a file fmnist
fetched (or a copy of the official file's content): an interrupted or bad download never looks like data, never
leaves a mix of two datasets, and never replaces a file of yours.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import http.client
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from fmnist.core.bounded import megabytes
from fmnist.core.errors import DataError, UsageError, printable
from fmnist.core.owned import OwnedFolder
from fmnist.core.signals import whole
from fmnist.data.fashion import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    MAX_IDX_BYTES,
    REMEDY,
    SPLITS,
    content_sha256,
    keras_cache_dir,
    read_idx,
)

BASE_URL_VAR = "FMNIST_BASE_URL"
OFFICIAL_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
OFFICIAL_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# the four files' content, gunzipped: a copy of these (the Debian package's, Keras' cache) may be replaced by a fetch
OFFICIAL_CONTENT: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
CHUNK = 1 << 16
MIN_RATE = 1024  # bytes a second, over the last `timeout` seconds (_Watch): a server dripping bytes

# (file name, bytes so far, total bytes or None when the server does not say)
Progress = Callable[[str, int, int | None], None]


def _targets() -> list[tuple[str, int, int]]:
    """(file name, IDX magic, expected count) for the four files."""
    out = []
    for images, labels, count in SPLITS.values():
        out += [(f"{images}.gz", IMAGES_MAGIC, count), (f"{labels}.gz", LABELS_MAGIC, count)]
    return out


FASHION_MIRROR = "pass --base-url for a mirror, or install the Debian package dataset-fashion-mnist"


def check_url(url: str, option: str) -> None:
    """UsageError unless `url` is an http:// or https:// URL with a host (not a path, not file://)."""
    try:
        parsed = urllib.parse.urlsplit(url)
        ok = parsed.scheme in ("http", "https") and bool(parsed.hostname)
    except ValueError:  # a broken IPv6 literal, a bad port
        ok = False
    if not ok or any(not c.isprintable() or c.isspace() for c in url):
        raise UsageError(f"{option} {printable(url, 120)}: give an http:// or https:// URL, e.g. "
                         "https://example.org/data/")


class _Watch:
    """A download's progress, judged by a watchdog thread: when fewer than MIN_RATE x `timeout` bytes of body have
    arrived in the last `timeout` seconds (a server that stalls, drips its headers, its chunk lines or its trailer,
    or drips after a fast start), it shuts the connection's socket, and the blocked read returns."""

    def __init__(self, timeout: float) -> None:
        self.timeout, self.done = timeout, 0
        self.sock: socket.socket | None = None  # the connection's, once it is made
        self.tripped = False
        self._marks: collections.deque[tuple[float, int]] = collections.deque([(time.monotonic(), 0)])
        self._ended = threading.Event()

    def slow_error(self, url: str) -> DataError:
        return DataError(f"{url} sent under {MIN_RATE:,} bytes a second for {self.timeout:g} s ({self.done:,} bytes "
                         "in all); the download was stopped. Try again later, or use a mirror")

    def __enter__(self) -> _Watch:
        threading.Thread(target=self._run, name="fmnist-download-watch", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ended.set()

    def _too_slow(self) -> bool:
        """Has the last `timeout` seconds brought fewer than MIN_RATE x timeout bytes?"""
        now = time.monotonic()
        self._marks.append((now, self.done))
        while len(self._marks) > 1 and now - self._marks[1][0] >= self.timeout:
            self._marks.popleft()  # the oldest mark kept is the latest at least `timeout` ago
        since, then = self._marks[0]
        return now - since >= self.timeout and self.done - then < MIN_RATE * self.timeout

    def _run(self) -> None:
        while not self._ended.wait(0.1):
            if self._too_slow() and self.sock is not None:
                self.tripped = True
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns: the reader says why
                return


class _Watched:
    """A connection that hands its socket, once made, to the download's _Watch."""

    sock: socket.socket

    def __init__(self, *args: Any, watch: _Watch, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watch = watch

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.watch.sock = self.sock


class _WatchedHTTP(_Watched, http.client.HTTPConnection):
    pass


class _WatchedHTTPS(_Watched, http.client.HTTPSConnection):
    pass


class _Watching:
    """A urllib handler whose connections hand their sockets to `watch`."""

    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self.watch = watch


class _HTTP(_Watching, urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTP, watch=self.watch), req)  # type: ignore[arg-type]


class _HTTPS(_Watching, urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTPS, watch=self.watch), req,  # type: ignore[arg-type]
                            context=self._context)


class _HTTPOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect to anything but http(s) (ftp://, file://) is refused, as --base-url is."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.URLError(f"redirected to {printable(newurl, 120)}, which is not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(url: str, part: Path, name: str, timeout: float, progress: Progress | None, limit: int,
             mirror: str = FASHION_MIRROR) -> str:
    """Stream `url` into the new file `part` (made here, exclusively), at most `limit` bytes, at least MIN_RATE
    over the last `timeout` seconds (headers and chunk lines too: _Watch); return its MD5. `mirror`: what the error says
    to try instead. Whatever goes wrong, even Ctrl-C, `part` is removed."""
    with _Watch(timeout) as watch:
        opener = urllib.request.build_opener(_HTTP(watch), _HTTPS(watch), _HTTPOnlyRedirects())
        try:
            with opener.open(url, timeout=timeout) as response, part.open("xb") as out:
                return _stream(response, out, url, name, watch, progress, limit)
        except BaseException as e:
            part.unlink(missing_ok=True)
            error = _download_error(e, url, part, watch, mirror)
            if error is e:
                raise
            raise error from e


def _download_error(e: BaseException, url: str, part: Path, watch: _Watch, mirror: str) -> BaseException:
    """What a failed download is to the user: DataError for the network or the disk, else `e` itself."""
    if watch.tripped:  # the watchdog shut the socket: whatever the read then raised is its doing
        return watch.slow_error(url)
    if isinstance(e, DataError):
        return e
    if isinstance(e, (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError,
                      ValueError)):
        reason = getattr(e, "reason", e)
        return DataError(f"could not download {url}: {reason}; check the network, or {mirror}")
    if isinstance(e, OSError):  # a full disk: the network was fine
        return DataError(f"cannot save {url} in {part.parent.parent}: {e.strerror or e}; free some space, or pass "
                         "another --dest")
    return e


def _stream(response: http.client.HTTPResponse, out: BinaryIO, url: str, name: str, watch: _Watch,
            progress: Progress | None, limit: int) -> str:
    """The body into `out`, checked as it comes (download's bounds); its MD5."""
    total = response.length  # http.client's parse of Content-Length: None when absent or not a number
    if total is not None and total > limit:
        raise DataError(f"{url} is {megabytes(total)}, more than the {megabytes(limit)} {name} may take; it was "
                        "not downloaded")
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := response.read1(CHUNK):  # what has arrived: a server dripping bytes is seen at once
        watch.done += len(chunk)
        if watch.done > limit:
            raise DataError(f"{url} sent more than the {megabytes(limit)} {name} may take; the download was stopped")
        out.write(chunk)
        digest.update(chunk)
        if progress:
            progress(name, watch.done, total)
    if watch.tripped:  # the watchdog shut the socket: the end of the body is its doing
        raise watch.slow_error(url)
    if total is not None and watch.done != total:
        raise DataError(f"download of {url} stopped at {watch.done} of {total} bytes; run fmnist data fetch again")
    return digest.hexdigest()


def _is_fashion_copy(path: Path) -> bool:
    """Is a file under one of the four names a copy of that official file (by its content, gunzipped)? Then a fetch
    into a folder with no manifest may replace it; any other file there (MNIST's digits under the same names, your
    own labels) is yours."""
    try:
        return content_sha256(path) == OFFICIAL_CONTENT.get(path.name)
    except DataError:
        return False


def fetch(
    dest: Path | None = None,
    base_url: str | None = None,
    md5: dict[str, str] | None = OFFICIAL_MD5,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download the dataset into `dest` (default: the Keras cache, which `fmnist.data.fashion` searches).

    `md5=None` skips the checksum (for mirrors that recompress); the IDX structure is always checked.
    """
    dest = Path(dest) if dest else keras_cache_dir()
    base_url = base_url or os.environ.get(BASE_URL_VAR) or OFFICIAL_URL
    check_url(base_url, "--base-url")
    if not base_url.endswith("/"):
        base_url += "/"
    targets = _targets()
    names = [name for name, _, _ in targets]
    folder = OwnedFolder(dest, "--dest", earlier=_is_fashion_copy)
    folder.refuse_foreign(names)  # before the download: a file of yours under one of the names
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create {dest}: {e.strerror or e}; pass a writable --dest") from e
    with tempfile.TemporaryDirectory(prefix=".fmnist-fetch.", dir=dest) as tmp:
        for name, magic, count in targets:
            _fetch_one(base_url + name, Path(tmp) / name, magic, count, md5, progress, timeout)
        folder.refuse_foreign(names)  # again: a file of yours put there during the download stops it here
        with whole():  # all four checked: now all four are put in place, a stop taking effect after
            for name in names:
                with folder.writing(name) as final:
                    os.replace(Path(tmp) / name, final)
    return dest


def _fetch_one(url: str, path: Path, magic: int, count: int, md5: dict[str, str] | None, progress: Progress | None,
               timeout: float) -> None:
    """Download `url` to `path` and check it (MD5 unless `md5` is None, then its IDX structure and count)."""
    got = download(url, path, path.name, timeout, progress, MAX_IDX_BYTES)
    if md5 is not None and got != md5[path.name]:
        raise DataError(f"{url} has MD5 {got}, expected {md5[path.name]}: the download is corrupt or not the "
                        "official file; try again, or use --skip-md5 for a trusted mirror")
    try:
        read_idx(path, magic, count)
    except DataError as e:  # its message names the temp file, and the remedy for an installed copy
        why = str(e).replace(str(path), url).replace(REMEDY, "try again, or use another mirror")
        raise DataError(why) from e
