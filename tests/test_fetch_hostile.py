"""`fmnist data fetch` against a hostile or careless mirror (a real HTTP server on 127.0.0.1) and a careless
destination: every download is bounded in size and rate, never writes through a name it did not make, never
replaces a file of yours, and stops on SIGTERM with nothing partial left."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest
from idx_files import synthetic_set
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import DataError, UsageError
from fmnist.core.owned import MANIFEST
from fmnist.data.fetch import MIN_RATE, download, fetch

NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz")


class Hostile(http.server.BaseHTTPRequestHandler):
    """/good/NAME: the synthetic files; /endless/NAME: zeros for ever, no length; /huge/NAME: a length of 1 TB;
    /drip/NAME: a byte every 0.2 s; /fastdrip/NAME: 1 MB at once, then that drip; /driphead/NAME and /toftp/NAME:
    see _odd."""

    files: ClassVar[dict[str, bytes]] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        kind, name = self.path.strip("/").split("/", 1)
        if kind in ("toftp", "driphead"):
            self._odd(kind)
            return
        self.send_response(200)
        if kind == "good":
            self.send_header("Content-Length", str(len(self.files[name])))
            self.end_headers()
            self.wfile.write(self.files[name])
            return
        if kind == "huge":
            self.send_header("Content-Length", str(10**12))
        self.end_headers()
        try:
            if kind == "fastdrip":  # a fast start: an average over the whole download would hide the stall
                self.wfile.write(b"\0" * 1_000_000)
            for _ in range(100_000):  # at most 6.5 GB, or 5.5 hours of drip: longer than any test waits
                self.wfile.write(b"\0" * (1 << 16) if kind == "endless" else b"\0")
                self.wfile.flush()
                if kind in ("drip", "fastdrip"):
                    time.sleep(0.2)
        except OSError:  # the client gave up, as it should
            pass

    def _odd(self, kind: str) -> None:
        """toftp: a redirect to ftp://; driphead: a status line and headers a byte every 0.2 s, for ever."""
        if kind == "toftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1:9/x")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(100_000):
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    Hostile.files = synthetic_set(tmp_path_factory.mktemp("hostile"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_a_body_past_the_limit_is_stopped_at_the_limit_and_leaves_no_file(mirror, tmp_path):
    part = tmp_path / "x.part"
    with pytest.raises(DataError, match=r"/endless/x sent more than the 1 MB x may take; the download was stopped"):
        download(mirror + "endless/x", part, "x", 5, None, limit=1_000_000)
    assert not part.exists()


def test_a_declared_length_past_the_limit_is_refused_before_the_body_is_read(mirror, tmp_path):
    got = CliRunner().invoke(app, ["data", "fetch", "--dest", str(tmp_path / "d"), "--base-url", mirror + "huge/",
                                   "--skip-md5"])
    assert got.exit_code == 3, got.output
    assert got.stderr.startswith("error: ") and "1,000,000 MB, more than the 64 MB" in got.stderr
    assert list((tmp_path / "d").iterdir()) == []


@pytest.mark.parametrize("kind", ["drip", "fastdrip"])
def test_a_server_dripping_bytes_is_stopped_once_the_timeout_has_passed(mirror, tmp_path, kind):
    """Each read gets a byte within the socket timeout, so only the rate tells it is stuck: over the last `timeout`
    seconds, not since the start (a fast megabyte first would keep the average up for 1,000 s)."""
    started = time.monotonic()
    with pytest.raises(DataError, match=rf"sent under {MIN_RATE:,} bytes a second for 0.5 s \((\d|,)+ bytes in all"):
        download(mirror + f"{kind}/x", tmp_path / "x.part", "x", 0.5, None, limit=10_000_000)
    assert time.monotonic() - started < 5 and not (tmp_path / "x.part").exists()


@pytest.mark.parametrize("url", ["/tmp/a-folder/", "file:///etc/", "http://[::1/", "http://127.0.0.1/a b/",
                                 "ftp://example.org/"])
def test_a_url_that_is_not_http_is_one_usage_line(url, tmp_path):
    got = CliRunner().invoke(app, ["data", "fetch", "--dest", str(tmp_path / "d"), "--base-url", url])
    assert got.exit_code == 2 and got.stderr.startswith("error: --base-url ") and "http:// or https://" in got.stderr
    assert len(got.stderr.splitlines()) == 1 and not (tmp_path / "d").exists()


def test_a_file_of_yours_under_a_name_is_refused_before_any_download_and_kept(mirror, tmp_path):
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / NAMES[1]).write_bytes(b"my own labels")
    got = CliRunner().invoke(app, ["data", "fetch", "--dest", str(dest), "--base-url", mirror + "good/",
                                   "--skip-md5"])
    assert got.exit_code == 2 and f"holds {NAMES[1]}, which fmnist did not write" in got.stderr
    assert (dest / NAMES[1]).read_bytes() == b"my own labels" and sorted(os.listdir(dest)) == [NAMES[1]]


def test_a_name_like_its_temp_file_is_never_written_through(mirror, tmp_path):
    """The old fetch streamed into DEST/NAME.part, following a symlink there into a file of yours."""
    dest, precious = tmp_path / "d", tmp_path / "thesis.txt"
    dest.mkdir()
    precious.write_text("my thesis")
    (dest / f"{NAMES[0]}.part").symlink_to(precious)
    fetch(dest, mirror + "good/", md5=None)
    assert precious.read_text() == "my thesis" and (dest / f"{NAMES[0]}.part").is_symlink()
    fetch(dest, mirror + "good/", md5=None)  # its own files, recorded in its manifest: fetched again over them
    assert (dest / NAMES[0]).read_bytes() == Hostile.files[NAMES[0]]


@pytest.mark.slow  # the real files inflated and hashed: 0.7 s
def test_a_copy_of_the_official_files_is_replaced_but_other_idx_files_are_not(mirror, tmp_path, real_data_dir):
    """A folder holding the four names with no manifest: the Debian package's copies (the official content,
    recompressed) may be fetched over; other valid IDX files under the same names (MNIST's digits share the names,
    magic numbers and counts; here the mirror's synthetic set) are the user's. Once fmnist has recorded the files,
    one changed since is the user's too."""
    dest, other = tmp_path / "d", tmp_path / "mnist"
    dest.mkdir()
    other.mkdir()
    for name in NAMES:
        shutil.copy(real_data_dir / name, dest / name)
        (other / name).write_bytes(Hostile.files[name])
    fetch(dest, mirror + "good/", md5=None)
    assert all((dest / name).read_bytes() == Hostile.files[name] for name in NAMES)
    with pytest.raises(UsageError, match=f"holds {NAMES[0]}, {NAMES[1]}, {NAMES[2]}, {NAMES[3]}, which fmnist did"):
        fetch(other, mirror + "good/", md5=None)
    (dest / NAMES[3]).write_bytes(Hostile.files[NAMES[3]] + b"\0")
    with pytest.raises(UsageError, match=f"holds {NAMES[3]}, which fmnist did not write .or which changed since"):
        fetch(dest, mirror + "good/", md5=None)


def test_a_damaged_manifest_is_refused_before_the_download(mirror, tmp_path):
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / MANIFEST).write_text("{not json")
    with pytest.raises(UsageError, match=f"{MANIFEST} there is not the record fmnist keeps"):
        fetch(dest, mirror + "good/", md5=None)
    assert sorted(os.listdir(dest)) == [MANIFEST]


def test_headers_sent_a_byte_at_a_time_are_stopped_once_the_timeout_has_passed(mirror, tmp_path):
    """The reader never sees them: http.client reads the status line and headers a line at a time, each byte within
    the socket timeout. The watchdog shuts the socket."""
    started = time.monotonic()
    with pytest.raises(DataError, match=rf"sent under {MIN_RATE:,} bytes a second for 0.5 s \(0 bytes in all\)"):
        download(mirror + "driphead/x", tmp_path / "x.part", "x", 0.5, None, limit=1_000_000)
    assert time.monotonic() - started < 5 and not (tmp_path / "x.part").exists()


def test_a_redirect_to_another_scheme_is_refused(mirror, tmp_path):
    with pytest.raises(DataError, match=r"redirected to ftp://127.0.0.1:9/x, which is not http.s."):
        download(mirror + "toftp/x", tmp_path / "x.part", "x", 5, None, limit=1_000_000)


@pytest.mark.slow  # a real process, half a second each
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_mid_download_says_so_and_leaves_nothing(mirror, tmp_path, stop):
    dest = tmp_path / "d"
    child = subprocess.Popen([sys.executable, "-m", "fmnist", "data", "fetch", "--dest", str(dest), "--base-url",
                              mirror + "drip/", "--skip-md5", "--timeout", "60"],
                             stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(stop, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while not any(dest.glob(".fmnist-fetch.*/*")) and time.monotonic() < deadline:  # the download has begun
        time.sleep(0.05)
    child.send_signal(stop)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert err == "interrupted: nothing partial was saved (what was in place before is as it was, or wholly replaced)\n"
    assert list(Path(dest).iterdir()) == []
