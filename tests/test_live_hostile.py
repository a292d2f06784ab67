"""`fmnist live` against what a hostile review handed it: FFmpeg protocol URLs that slipped past the regular-file
check, a header declaring 1e-5 fps, videos none of whose packets decode, a stdout that is full or closed, a stop
while a stalled stream is reopened, streams that never answer, and a --record name OpenCV cannot write.
docs/reliability.md maps each case to its test here."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import SourceError, UsageError
from fmnist.runtime.video.capture import LatestFrame
from fmnist.runtime.video.live import open_frames
from fmnist.runtime.video.sources import SourceSpec, VideoSource, parse_source
from tests.live_sources import STALLS, StallingCamera, damage_packets, declare_fps, mjpeg_avi, picture, rle_bmp

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def live(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """`fmnist live` in a process of its own (the edge model, headless), killed at `timeout`: the test then fails
    with TimeoutExpired instead of hanging."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "fmnist", "live", "--model", "edge", "--no-display", *args],
                          stderr=subprocess.PIPE, text=True, timeout=timeout, cwd=ROOT, **kwargs)


def frames_in(path: Path) -> int:
    capture, count = cv2.VideoCapture(str(path)), 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


# --- A: protocol URLs ----------------------------------------------------------------------------------------------

def test_a_file_url_is_its_path_and_other_ffmpeg_protocols_are_refused(tmp_path):
    assert parse_source("file:///tmp/v.avi") == SourceSpec("file", "/tmp/v.avi")
    assert parse_source("file:/tmp/v.avi") == SourceSpec("file", "/tmp/v.avi")
    assert parse_source("file:concat:x") == SourceSpec("file", os.path.abspath("concat:x"))  # a name, not a protocol
    assert parse_source("RTSP://cam/1").kind == parse_source("udp://0.0.0.0:5000").kind == "stream"
    assert parse_source("./a:b.avi") == SourceSpec("file", "./a:b.avi")
    for url in ("concat:a.avi|b.avi", "subfile,,start,0,end,0,,:a.avi", "pipe:0", "data:abc", "fd:3", "crypto:a"):
        with pytest.raises(UsageError, match=r"is not a stream fmnist reads.*\(rtsp, rtsps, rtmp, http, https"):
            parse_source(url)


@pytest.mark.slow
def test_a_pipe_behind_a_file_or_concat_url_is_refused_and_a_file_url_ends(tmp_path):
    """`file://FIFO` and `concat:good|FIFO` hung for ever; `file://good.avi` was a stream, replayed without end."""
    fifo, good = tmp_path / "fifo.avi", mjpeg_avi(tmp_path / "good.avi", 4)
    os.mkfifo(fifo)
    for source in (f"file://{fifo}", f"file:{fifo}"):
        got = live("--source", source, timeout=30)
        assert got.returncode == 1 and got.stderr == (
            f"error: --source {fifo} is not a regular file (a named pipe, a socket, a folder or a block device); give "
            "a video file, a camera (an index or /dev/videoN) or a stream URL\n")
    got = live("--source", f"concat:{good}|{fifo}", "--record", str(tmp_path / "r.avi"), timeout=30)
    assert got.returncode == 2 and got.stderr.count("\n") == 1 and "concat: is not a stream" in got.stderr
    assert not (tmp_path / "r.avi").exists()
    got = live("--source", f"file://{good}", timeout=30)
    assert got.returncode == 0 and f"source file {good}" in got.stderr and "4 frames in" in got.stderr


# --- B: a declared frame rate --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("declared", "paced"), [((100_000, 1), 0.5), ((1, 240), 240.0), ((2, 1), 0.5),
                                                ((1, 5000), 1000.0)])
def test_realtime_paces_a_file_at_its_own_rate_held_to_half_a_frame_to_a_thousand_a_second(tmp_path, declared, paced):
    """1e-5 fps declared played one frame a day under --realtime; 240 fps (slow motion) and 0.5 fps (a timelapse)
    are files' own rates and play at them (the first fix played every rate outside 1-120 at 30)."""
    video = mjpeg_avi(tmp_path / "declared.avi", 3)
    declare_fps(video, *declared)
    source = VideoSource(str(video))
    assert source.fps == pytest.approx(declared[1] / declared[0])  # what the file says
    frames = open_frames(source, realtime=True)
    try:
        assert isinstance(frames, LatestFrame) and frames.interval == pytest.approx(1 / paced)
    finally:
        frames.stop()
        source.release()


# --- C: packets that do not decode ---------------------------------------------------------------------------------

def test_a_video_none_of_whose_packets_decodes_is_an_error_not_zero_frames(tmp_path):
    video = mjpeg_avi(tmp_path / "garbage.avi", 20)
    assert damage_packets(video, keep=()) == 20
    got = runner.invoke(app, ["live", "--source", str(video), "--model", "edge", "--no-display", "--record",
                              str(tmp_path / "r.avi")])
    assert got.exit_code == 1 and "Traceback" not in got.output
    assert got.stderr.endswith(f"\nerror: --source {video}: none of its 20 packets decodes as a frame; is it a "
                               "damaged video?\n") and got.stderr.count("\n") == 2  # after the source's line
    assert not (tmp_path / "r.avi").exists()  # the claimed name given back


def test_good_frames_after_many_bad_packets_are_read_and_the_bad_ones_counted(tmp_path):
    """3 good, 100 random, 3 good: the reader used to stop after 64 bad packets in a row, dropping the last 3."""
    video = mjpeg_avi(tmp_path / "mixed.avi", 106)
    assert damage_packets(video, keep=(0, 1, 2, 103, 104, 105)) == 100
    got = runner.invoke(app, ["live", "--source", str(video), "--model", "edge", "--no-display"])
    assert got.exit_code == 0, got.output
    assert "6 frames in" in got.stderr and "100 packets skipped (not decodable)" in got.stderr


# --- D: stdout ----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_full_stdout_is_one_error_line_after_the_recording_is_finalized(tmp_path):
    video, record = mjpeg_avi(tmp_path / "v.avi", 200), tmp_path / "r.avi"
    with open("/dev/full", "w") as full:
        got = live("--source", str(video), "--json", "--record", str(record), stdout=full)
    assert got.returncode == 1 and "Traceback" not in got.stderr
    assert got.stderr.splitlines()[-1] == "error: cannot write --json to stdout: No space left on device"
    assert 1 <= frames_in(record) < 200  # finalized, and it plays


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_live_quietly(tmp_path):
    """`live --json | head -1`: the lines were block-buffered, and the pipe's close was an exit 1 (or Python's
    'Exception ignored … BrokenPipeError' at exit)."""
    video = mjpeg_avi(tmp_path / "v.avi", 300)
    process = subprocess.Popen([sys.executable, "-m", "fmnist", "live", "--model", "edge", "--no-display", "--json",
                                "--source", str(video)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline().startswith('{"frame": 0')  # each line as it comes
        process.stdout.close()
        err = process.stderr.read()
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert not [line for line in err.splitlines() if "rror" in line or "xception" in line or "Traceback" in line]


# --- E and F: streams that stall or never answer -------------------------------------------------------------------

@STALLS
@pytest.mark.slow
def test_a_stop_while_a_stalled_stream_is_reopened_is_prompt_and_keeps_the_summary(tmp_path):
    """The camera sends 10 frames and stalls; live's read times out (10 s) and it reconnects, which stalls too.
    SIGTERM then (docker stop): the capture thread's reopen had fd 2 at /dev/null (the summary vanished), stop()
    waited 5 s for it, and the recording's check waited for OpenCV's FFmpeg lock, which the reopen held."""
    camera, record = StallingCamera(frames=10), tmp_path / "r.avi"
    process = subprocess.Popen([sys.executable, "-m", "fmnist", "live", "--model", "edge", "--no-display",
                                "--source", camera.url, "--record", str(record)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert camera.wait_for(2, timeout=40)  # the reopen is connecting
        time.sleep(1.0)
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
        took = time.monotonic() - stopped
    finally:
        process.kill()
        camera.close()
    assert took < 4 and process.returncode == 0, (took, err)
    assert "stopped by SIGTERM" in err and "[ WARN" not in err, err
    # all 10 frames are in the summary: shown, or dropped as stale when the machine is busy (live keeps the newest);
    # the recording holds the frames shown
    summary = re.search(r"^interrupted: (\d+) frames in .*, (\d+) dropped as stale", err, re.MULTILINE)
    assert summary is not None, err
    shown, dropped = int(summary[1]), int(summary[2])
    assert shown + dropped == 10 and frames_in(record) == shown, err


@STALLS
@pytest.mark.slow
def test_streams_that_never_answer_or_stall_give_up_on_the_documented_deadlines(tmp_path):
    """One 10 s deadline for all of a stream's tries to open (it took 40.5 s: four opens of 10 s each), and one for
    its tries to come back (a stall after the frames: 136 s, now the 10 s read timeout and 10 s of tries)."""
    silent = socket.create_server(("127.0.0.1", 0))  # connections queue in its backlog: accepted, never answered
    camera = StallingCamera(frames=5)
    results: dict[str, tuple[float, subprocess.CompletedProcess]] = {}

    def run(name: str, url: str) -> None:
        started = time.monotonic()
        got = live("--source", url, timeout=90)
        results[name] = (time.monotonic() - started, got)

    threads = [threading.Thread(target=run, args=("silent", f"http://127.0.0.1:{silent.getsockname()[1]}/")),
               threading.Thread(target=run, args=("stall", camera.url))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    silent.close()
    camera.close()
    took, got = results["silent"]
    assert got.returncode == 1 and took < 16 and got.stderr.startswith("error: cannot open --source"), (took, got)
    took, got = results["stall"]
    assert got.returncode == 1 and 18 < took < 30, (took, got.stderr)
    assert "did not come back after 1 retry within 10 s" in got.stderr and "[ WARN" not in got.stderr


# --- H: still images FFmpeg would decode itself -------------------------------------------------------------------

HUGE_FRAMES = {  # a frame's suffix: the huge frame's bytes, and its size as the error gives it
    ".png": (cv2.imencode(".png", np.zeros((5000, 5000), np.uint8))[1].tobytes(), r"5000x5000 \(25 MP\)"),  # 25 KB
    ".bmp": (rle_bmp(16000, 16000), r"16000x16000 \(256 MP\)"),  # 1 KB
}


@pytest.mark.parametrize("suffix", HUGE_FRAMES)
def test_a_huge_frame_mid_sequence_is_refused_from_its_header_before_it_is_decoded(tmp_path, suffix):
    """A PNG sequence (or PNG-in-AVI) was decoded by FFmpeg whatever its size (a 16000x16000 16-bit RGBA frame took
    2.16 GB) and scaled to the first frame's: now read as packets, each header checked, as MJPEG is. OpenCV names no
    codec for BMP frames (FOURCC 0, as for raw video): FFmpeg decoded a 1 KB run-length BMP of 16000x16000 (a 405 MB
    peak, against 111 MB); the first packet tells a BMP from raw video, and its frames are read as packets too."""
    huge, size = HUGE_FRAMES[suffix]
    for i in (0, 1, 3):
        assert cv2.imwrite(str(tmp_path / f"img_{i:03d}{suffix}"), picture())
    (tmp_path / f"img_002{suffix}").write_bytes(huge)
    source = VideoSource(str(tmp_path / f"img_%03d{suffix}"))
    try:
        assert source.packets and source.read().shape == (240, 320, 3) and source.read() is not None
        with pytest.raises(SourceError, match=rf"a frame of --source .* is {size}, over the 24 MP"):
            source.read()
    finally:
        source.release()


def test_a_bmp_sequence_is_read_as_packets_whatever_its_first_file_holds(tmp_path):
    """FFmpeg reads every file of `img_%03d.bmp` as a BMP: a first file of raw bytes the size of one raw frame does not
    make the sequence raw video, so the huge BMP after it is still refused from its header."""
    (tmp_path / "img_000.bmp").write_bytes(bytes(320 * 240 * 3))
    assert cv2.imwrite(str(tmp_path / "img_001.bmp"), picture())
    (tmp_path / "img_002.bmp").write_bytes(rle_bmp(16000, 16000))
    source = VideoSource(str(tmp_path / "img_%03d.bmp"))
    try:
        assert source.packets and source.read().shape == (240, 320, 3)  # the raw bytes: skipped, not a BMP
        with pytest.raises(SourceError, match=r"a frame of --source .* is 16000x16000 \(256 MP\), over the 24 MP"):
            source.read()
    finally:
        source.release()


@pytest.mark.parametrize(("suffix", "number"), [(".ppm", "%03d"), (".pfm", "%03d"), (".hdr", "%03d"), (".jp2", "%03d"),
                                                (".gif", "%03d"), (".ppm", "%2%%03d"), (".ppm", "%0000000003d")])
def test_image_sequences_whose_headers_fmnist_does_not_read_are_refused_by_name(tmp_path, suffix, number):
    """FFmpeg reads `k_%03d.ppm` as PPM images whatever the files hold, each at its own size, and OpenCV's own reader
    took a GIF sequence, decoding each frame whatever its size: a sequence of anything but JPEG, PNG, TIFF, WebP or
    BMP files is refused by name, before anything opens (a first file made to look like raw video cannot make the
    rest decode)."""
    image = picture().astype(np.float32) / 255 if suffix in (".pfm", ".hdr") else picture()
    percent = number.startswith("%2%")  # FFmpeg reads %N% as a % (the files k_%000.ppm...), and a width by its value
    for i in range(2):
        assert cv2.imwrite(str(tmp_path / f"k_{'%' if percent else ''}{i:03d}{suffix}"), image)
    pattern = str(tmp_path / f"k_{number}{suffix}")
    got = runner.invoke(app, ["live", "--source", pattern, "--model", "edge", "--no-display"])
    assert got.exit_code == 1 and got.stderr == (
        f"error: --source {pattern}: its frames are {suffix} files: fmnist reads image sequences of JPEG, PNG, TIFF, "
        "WebP or BMP files, whose headers it checks before they are decoded; convert it to MJPEG or PNG frames\n"), (
        got.output)


UNTAGGED_IMAGES = ("frames have no codec tag and it is no video container fmnist knows (AVI, Matroska, MP4, NUT, Y4M): "
                   "still images of a format whose header fmnist does not read, each of any size")


@pytest.mark.parametrize(("suffix", "what"), [(".ppm", UNTAGGED_IMAGES), (".pfm", UNTAGGED_IMAGES),
                                              (".jp2", "frames are JPEG 2000 images, each of any size, whose headers "
                                                       "fmnist does not read")])
def test_still_images_under_another_name_are_refused_unless_in_a_video_container(tmp_path, suffix, what):
    """Under a name FFmpeg does not read as images, FFmpeg picks an image pipe by the file's first bytes. PPM's and
    PFM's packets have no codec tag, as raw video's: a file with no codec tag is raw video only in a container that
    holds video. JPEG 2000's have a tag."""
    image = picture().astype(np.float32) / 255 if suffix == ".pfm" else picture()
    path = tmp_path / "clip.dat"
    path.write_bytes(cv2.imencode(suffix, image)[1].tobytes() * 3)
    got = runner.invoke(app, ["live", "--source", str(path), "--model", "edge", "--no-display"])
    assert got.exit_code == 1 and got.stderr == (
        f"error: --source {path}: its {what}; convert it to MJPEG or PNG frames\n"), got.output


def test_bmp_images_under_another_name_are_read_as_packets_from_the_first(tmp_path):
    """BMP images one after another under another name (FFmpeg's BMP pipe): the first packet, read to tell BMP from
    raw video, is the first frame, and a huge one after it is refused from its header."""
    path = tmp_path / "clip.dat"
    small = cv2.imencode(".bmp", picture())[1].tobytes()
    path.write_bytes(small + rle_bmp(16000, 16000) + small)
    source = VideoSource(str(path))
    try:
        assert source.packets and source.read().shape == (240, 320, 3)
        with pytest.raises(SourceError, match=r"a frame of --source .* is 16000x16000 \(256 MP\), over the 24 MP"):
            source.read()
    finally:
        source.release()


def y4m(path: Path, frames: int, first: bytes = b"") -> Path:
    """A YUV4MPEG2 file (raw 4:2:0 video, no codec tag) of the test picture, written by hand as the format says; its
    first pixels' luma `first`."""
    yuv = cv2.cvtColor(picture(), cv2.COLOR_BGR2YUV_I420).tobytes()
    yuv = first + yuv[len(first):]
    path.write_bytes(b"YUV4MPEG2 W320 H240 F10:1 Ip A1:1 C420jpeg\n" + (b"FRAME\n" + yuv) * frames)
    return path


def raw_video(path: Path, codec: str, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 10.0, (320, 240))
    for _ in range(frames):
        writer.write(picture())
    writer.release()
    return path


@pytest.mark.parametrize("codec", ["\0\0\0\0", "I420", "Y800", "RGBA", "RGBA.mov", "y4m", "y4m BM", "y4m P6 "])
def test_raw_video_with_no_codec_tag_still_plays_decoded(tmp_path, codec):
    """Raw video has no codec tag either, and its first packet is no image of the video's size, even when its first
    pixels read as the start of a BMP or a PPM: decoded as before, every frame (its frames keep the stream's
    size)."""
    path = (y4m(tmp_path / "raw.y4m", 4, codec[4:].encode()) if codec.startswith("y4m")
            else raw_video(tmp_path / f"raw{Path(codec).suffix or '.avi'}", Path(codec).stem, 4))
    assert int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FOURCC)) == 0  # no tag, as BMP's frames
    source = VideoSource(str(path))
    try:
        frames = [source.read() for _ in range(5)]
    finally:
        source.release()
    assert not source.packets and [f.shape for f in frames[:4]] == [(240, 320, 3)] * 4 and frames[4] is None


# --- G: --record's name -------------------------------------------------------------------------------------------

def test_a_record_name_opencv_cannot_write_is_refused_before_the_source_opens(tmp_path):
    video = mjpeg_avi(tmp_path / "v.avi", 3)
    got = runner.invoke(app, ["live", "--source", str(video), "--model", "edge", "--no-display", "--record",
                              str(tmp_path / "out.txt")])
    assert got.exit_code == 2 and got.stderr == (f"error: --record {tmp_path / 'out.txt'}: fmnist records .mp4 or "
                                                 ".avi files; give a name ending in one of them\n")
    assert not (tmp_path / "out.txt").exists()


# --- the second review: what the first fixes broke or left ---------------------------------------------------------

def test_a_file_named_with_a_colon_is_a_file_not_a_protocol(tmp_path, monkeypatch):
    """A camera's dump named by its time (2024-01-01T10:00:00.avi) played before the protocol check; the first fix
    refused it as a `2024-01-01t10:` protocol."""
    monkeypatch.chdir(tmp_path)
    mjpeg_avi(tmp_path / "2024-01-01T10:00:00.avi", 3)
    assert parse_source("2024-01-01T10:00:00.avi") == SourceSpec("file", str(tmp_path / "2024-01-01T10:00:00.avi"))
    got = runner.invoke(app, ["live", "--source", "2024-01-01T10:00:00.avi", "--model", "edge", "--no-display"])
    assert got.exit_code == 0 and "3 frames in " in got.stderr, got.output


@pytest.mark.parametrize(("source", "spec"), [
    ("HTTP://cam.lan/video", SourceSpec("stream", "http://cam.lan/video")),  # FFmpeg's protocol names: lower case
    ("file://localhost/tmp/a%20b.avi", SourceSpec("file", "/tmp/a b.avi")),  # RFC 8089: a host, percent-encoding
    ("file:///tmp/a%20b.avi", SourceSpec("file", "/tmp/a b.avi")),
])
def test_url_spellings_name_what_they_mean(source, spec):
    assert parse_source(source) == spec


def test_a_file_url_on_another_host_is_refused():
    with pytest.raises(UsageError, match="a file: URL on another host"):
        parse_source("file://nas.lan/videos/a.avi")


def test_json_with_stdout_closed_is_one_line_not_a_traceback(tmp_path):
    """Started with fd 1 closed (`>&-`), Python has no sys.stdout at all."""
    photo = ROOT / "examples" / "photos" / "pants.jpg"
    got = subprocess.run([sys.executable, "-m", "fmnist", "classify", str(photo), "--model", "edge", "--json"],
                         stderr=subprocess.PIPE, text=True, timeout=60, preexec_fn=lambda: os.close(1))
    assert got.returncode == 1 and got.stderr == "error: cannot write --json to stdout: it is closed\n", got.stderr
