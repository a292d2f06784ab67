"""No hangs and honest output: huge video frames are refused before they are decoded, a pipe is no source, an open
that waits gives way to Ctrl-C and SIGTERM, globs through symlink loops end, --threads past the cores under a process
limit ends, an unreadable folder is reported, a name cannot forge a line, and a photo whose copy could not be saved
is still reported classified. docs/reliability.md maps each case to its test here."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import SourceError
from fmnist.data import fashion
from fmnist.runtime.video import frame_limits
from fmnist.runtime.video.sources import VideoSource
from scripts.product_video import SIZE, write_video
from scripts.product_video import frame as product_frame
from tests.live_sources import rle_bmp

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photos" / "pants.jpg"
runner = CliRunner()


def fmnist(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """fmnist in a process of its own, killed by the timeout if it hangs (the test then fails, never hangs)."""
    return subprocess.run([sys.executable, "-m", "fmnist", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, **kwargs)


def measured(*args: str, timeout: float = 60) -> tuple[int, str, int]:
    """fmnist in a process of its own: its exit code, its stderr and its own peak memory (KB), killed at `timeout`.
    GNU time measures it: a child forked by this (large) test process would report this process's peak as its own
    (Linux records the pre-exec memory's high-water mark in the child's ru_maxrss)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as peak:
        process = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", peak.name, sys.executable, "-m", "fmnist",
                                    *args], cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
        timer.start()
        try:
            _, err = process.communicate()
        finally:
            timer.cancel()
        return process.returncode, err, int(peak.read().split()[-1])


# --- video frames ------------------------------------------------------------------------------------------------

def uniform_jpeg(width: int, height: int, colour: bool = False) -> bytes:
    """A valid baseline JPEG of any size, grey 128 all over (4:4:4 in colour), made without allocating its pixels:
    the scan of a few blocks from OpenCV's encoder, repeated. A 16000x16000 colour one is 7 MB, 768 MB decoded."""
    side = 8 * 8  # 8 blocks of 8x8: two runs of the 4-block pattern
    small = np.full((8, side, 3) if colour else (8, side), 128, np.uint8)
    _, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, 0x111111] if colour else [])
    data = encoded.tobytes()
    start = data.index(b"\xff\xda")
    scan_at = start + 2 + struct.unpack(">H", data[start + 2 : start + 4])[0]
    head, scan = data[:scan_at], data[scan_at:-2]
    pattern = scan[: len(scan) // 2]
    assert scan == pattern * 2 and width % 8 == 0 and height % 8 == 0 and (width * height // 64) % 4 == 0
    frame = head.index(b"\xff\xc0")  # the start of frame: its height and width follow the precision byte
    head = head[: frame + 5] + struct.pack(">HH", height, width) + head[frame + 9 :]
    return head + pattern * (width * height // 64 // 4) + b"\xff\xd9"


@pytest.fixture
def mjpeg_stream() -> Iterator:
    """start(frames) -> the URL of a local multipart MJPEG stream (as an IP camera sends) of those JPEGs."""
    servers: list[ThreadingHTTPServer] = []

    def start(frames: list[bytes]) -> str:
        class Stream(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for jpeg in frames:
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                         % (len(jpeg), jpeg))
                        time.sleep(0.05)
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Stream)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_stream_of_huge_frames_is_refused_at_open_and_record_s_name_given_back(mjpeg_stream, tmp_path):
    url = mjpeg_stream([uniform_jpeg(16000, 16000)] * 2)
    got = runner.invoke(app, ["live", "--source", url, "--model", "edge", "--no-display",
                              "--record", str(tmp_path / "r.mp4")])
    assert got.exit_code == 1 and "Traceback" not in got.output
    assert got.stderr == (f"error: --source {url} is 16000x16000 (256 MP), over the 24 MP a live frame may have; "
                          "lower the camera's or the stream's resolution\n")
    assert not (tmp_path / "r.mp4").exists()


def test_a_huge_frame_mid_stream_is_refused_before_it_is_decoded(mjpeg_stream, tmp_path):
    """Two 640x480 frames, then a 16000x16000 4:4:4 one: FFmpeg's decoder alone took 768 MB for it. The recording
    of the frames before it is kept."""
    small = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()
    url = mjpeg_stream([small, small, uniform_jpeg(16000, 16000, colour=True), small])
    code, err, peak_kb = measured("live", "--source", url, "--model", "edge", "--no-display", "--record",
                                  str(tmp_path / "r.avi"))
    assert code == 1 and "Traceback" not in err, err
    assert err.endswith("error: a frame of --source " + url + " is 16000x16000 (256 MP), over the 24 MP a live frame "
                        "may have; lower the camera's or the stream's resolution\n")
    assert peak_kb < 500_000, f"{peak_kb} KB"  # ~200 MB here
    assert cv2.VideoCapture(str(tmp_path / "r.avi")).read()[0]


@pytest.mark.parametrize("name", ["img_%03d.bmp", "clip.avi"])
def test_an_image_first_in_a_source_that_is_huge_is_refused_before_ffmpeg_opens_it(tmp_path, name):
    """FFmpeg decodes a source's first image while it opens it: a 1 KB run-length BMP declaring 16000x16000 took a
    354 MB peak before the size was refused, first in a sequence or alone under a video's name. A local file, or a
    sequence's first file as image2 finds it (numbers 0-4), has its header read first."""
    (tmp_path / name.replace("%03d", "001")).write_bytes(rle_bmp(16000, 16000))
    if "%" in name:
        assert cv2.imwrite(str(tmp_path / "img_002.bmp"), np.full((240, 320, 3), 90, np.uint8))
    source = str(tmp_path / name)
    code, err, peak_kb = measured("live", "--source", source, "--model", "edge", "--no-display")
    assert code == 1 and err == (f"error: --source {source} is 16000x16000 (256 MP), over the 24 MP a live frame may "
                                 "have; lower the camera's or the stream's resolution\n"), err
    assert peak_kb < 200_000, f"{peak_kb} KB"  # ~100 MB here


def test_a_video_file_over_the_limit_is_refused_at_open(tmp_path, monkeypatch):
    """The limit's rule on a small file (an mp4 is not read as JPEG packets): a 28x28 product video at 640x480."""
    video = tmp_path / "v.mp4"
    write_video(video, fashion.load_split("test").images[:1], hold=2, blank=0)
    monkeypatch.setattr(frame_limits, "MAX_FRAME_PIXELS", 640 * 480 - 1)
    with pytest.raises(SourceError, match="is 640x480 \\(0 MP\\), over the 0 MP a live frame"):
        VideoSource(str(video))


def test_an_mjpeg_file_is_read_as_checked_packets_with_the_frames_ffmpeg_decodes(tmp_path):
    video = tmp_path / "v.avi"
    products = fashion.load_split("test").images[:3]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    for i, product in enumerate(products):
        writer.write(product_frame(np.random.default_rng(i), product))
    writer.release()
    source, ffmpeg = VideoSource(str(video)), cv2.VideoCapture(str(video))
    got, decoded = [source.read() for _ in range(4)], [ffmpeg.read()[1] for _ in range(3)]
    source.release()
    assert source.packets and got[3] is None
    for ours, theirs in zip(got[:3], decoded, strict=True):
        assert ours is not None and ours.shape == theirs.shape == (SIZE[1], SIZE[0], 3)
        assert np.abs(ours.astype(int) - theirs).mean() < 2  # two JPEG decoders: rounding and chroma filters apart


# --- sources that block -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.slow
def test_a_pipe_or_a_folder_as_source_is_refused_before_the_recording(tmp_path, kind):
    source = tmp_path / "source"
    if kind == "fifo":
        os.mkfifo(source)  # opening a pipe for reading blocks until a writer comes
    else:
        source.mkdir()
    got = fmnist("live", "--source", str(source), "--model", "edge", "--no-display", "--record",
                 str(tmp_path / "r.mp4"))
    assert got.returncode == 1 and got.stderr == (
        f"error: --source {source} is not a regular file (a named pipe, a socket, a folder or a block device); give a "
        "video file, a camera (an index or /dev/videoN) or a stream URL\n")
    assert not (tmp_path / "r.mp4").exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.slow
def test_a_stream_that_never_answers_gives_way_to_ctrl_c_and_sigterm(tmp_path, stop):
    """OpenCV waits up to its open timeout and checks no signal; the run ends at once all the same, with one line,
    and --record's claimed name is given back."""
    listener = socket.create_server(("127.0.0.1", 0))
    connected = threading.Event()

    def accept() -> None:
        with listener:
            conn, _ = listener.accept()  # and never answer
            connected.set()
            time.sleep(15)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    process = subprocess.Popen([sys.executable, "-m", "fmnist", "live", "--source", url, "--model", "edge",
                                "--no-display", "--record", str(tmp_path / "r.mp4")],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert connected.wait(30)  # the source is opening
        started = time.monotonic()
        process.send_signal(stop)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
    why = "Ctrl-C" if stop == signal.SIGINT else "SIGTERM"
    assert time.monotonic() - started < 3 and process.returncode == 1
    assert err.endswith(f"error: --source {url}: stopped by {why} while it was opening; nothing was read\n"), err
    assert not (tmp_path / "r.mp4").exists()


# --- classify: globs, threads, unreadable folders -----------------------------------------------------------------

@pytest.mark.slow
def test_a_glob_through_symlink_loops_ends_and_classifies_each_photo_once(tmp_path):
    deep = tmp_path / "g" / "a" / "b"
    deep.mkdir(parents=True)
    shutil.copy(PHOTO, deep / "p.jpg")
    shutil.copy(PHOTO, tmp_path / "g" / "top.jpg")
    (deep / "up").symlink_to("..")  # two loops: Python 3.11's glob.glob never ended
    (tmp_path / "g" / "a" / "loop").symlink_to("../..")
    got = fmnist("classify", str(tmp_path / "g" / "**" / "*.jpg"), "--model", "edge", "--json")
    assert got.returncode == 0, got.stderr
    assert [json.loads(line)["input"] for line in got.stdout.splitlines()] == [
        str(tmp_path / "g" / "top.jpg"), str(deep / "p.jpg")]


def test_a_glob_meets_a_real_file_once_and_finds_what_glob_finds(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("x.jpg", "y.png", ".hidden.jpg", "notes.txt"):
        shutil.copy(PHOTO, tmp_path / "a" / name)
    (tmp_path / "b").symlink_to("a")  # a second name for the same folder
    from fmnist.runtime.inputs import expand

    assert list(expand([str(tmp_path / "*" / "*.*")])) == [tmp_path / "a" / "x.jpg", tmp_path / "a" / "y.png"]
    # a folder it matches is walked as a folder given: without its hidden files
    assert list(expand([str(tmp_path / "*")])) == [tmp_path / "a" / "x.jpg", tmp_path / "a" / "y.png"]
    assert list(expand([str(tmp_path / "a" / ".*")])) == [tmp_path / "a" / ".hidden.jpg"]  # asked for by name


def _process_limit(count: int):
    """In the child: at most `count` processes and threads for its user. Root is never held to RLIMIT_NPROC, so the
    child runs as root without the two capabilities that pass it, and counts as the user nobody."""
    def limit() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (21, 24):  # CAP_SYS_ADMIN, CAP_SYS_RESOURCE
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl")
        resource.setrlimit(resource.RLIMIT_NPROC, (count, count))
        os.setreuid(65534, 0)  # the real user is counted; files are still read as root
    return limit


@pytest.mark.skipif(os.geteuid() != 0, reason="the process limit is set up as root (an unprivileged run is held to it)")
def test_threads_past_the_cores_under_a_process_limit_end(tmp_path):
    got = fmnist("classify", str(PHOTO), "--model", "edge", "--threads", "400", preexec_fn=_process_limit(12))
    assert got.returncode == 0 and got.stdout.startswith(f"{PHOTO}: Trouser"), got.stderr
    cores = len(os.sched_getaffinity(0))
    assert got.stderr.count("note: --threads 400 is more than") == 1
    assert f"note: --threads 400 is more than the {cores} cores here; using {cores}" in got.stderr


def _deep_folder(top: Path) -> Path:
    """A folder nested past PATH_MAX (4096 bytes): no one, root included, can list it by its name."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for i in range(18):
            name = f"{i:02d}" + "d" * 240
            os.mkdir(name, dir_fd=fd)
            fd, parent = os.open(name, os.O_RDONLY, dir_fd=fd), fd
            os.close(parent)
    finally:
        os.close(fd)
    return top


def test_a_folder_that_cannot_be_read_is_reported_and_fails_the_run(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(PHOTO, photos / "pants.jpg")
    _deep_folder(photos)
    got = runner.invoke(app, ["classify", str(photos), "--model", "edge", "--json"])
    rows = [json.loads(line) for line in got.stdout.splitlines()]
    assert got.exit_code == 1 and rows[0]["label"] == "Trouser"
    assert rows[1]["error"].endswith(": cannot read the folder (File name too long); nothing in it was classified")
    assert len(rows[1]["input"]) > 4096 and "error: 1 of 2 inputs could not be classified" in got.stderr


# --- honest text output -------------------------------------------------------------------------------------------

def test_a_name_with_a_newline_or_an_escape_cannot_forge_a_line(tmp_path):
    forged = "pants.jpg\nfake: Coat 99%\x1b[2J.jpg"
    shutil.copy(PHOTO, tmp_path / forged)
    (tmp_path / "bad\nfake: Bag 99%.jpg").write_bytes(b"not an image")
    got = runner.invoke(app, ["classify", str(tmp_path), "--model", "edge"])
    assert got.exit_code == 1
    assert got.stdout.splitlines() == [got.stdout.rstrip("\n")]  # one result, one line
    assert got.stdout.startswith(f"{tmp_path}/pants.jpg\\nfake: Coat 99%\\x1b[2J.jpg: Trouser")
    lines = got.stderr.splitlines()
    assert [line.split(" ")[0] for line in lines] == ["skipped", "error:"]
    assert lines[0].startswith(f"skipped {tmp_path}/bad\\nfake: Bag 99%.jpg: ")


def test_a_photo_whose_copy_cannot_be_saved_is_reported_classified(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(out)]).returncode != 0:
        pytest.skip("chattr +i (the one way to make a folder unwritable for root) is not available here")
    try:
        got = runner.invoke(app, ["classify", str(PHOTO), "--model", "edge", "--save", str(out)])
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)
    assert got.exit_code == 1 and got.stdout.startswith(f"{PHOTO}: Trouser")
    lines = got.stderr.splitlines()
    assert lines[0].startswith(f"not saved: {PHOTO}: cannot write {out}/pants.jpg: Operation not permitted")
    assert lines[-1] == f"error: 1 classified photo could not be saved into {out} (listed above)"
    assert "could not be classified" not in got.stderr and not list(out.iterdir())
