"""fmnist live on real video files made with cv2.VideoWriter (no camera here), headless."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import SourceError, UsageError
from fmnist.core.meta import CLASS_NAMES
from fmnist.data import fashion
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.video.http.served import Address, serve_live
from fmnist.runtime.video.live import LiveConfig, run
from fmnist.runtime.video.outputs import display_available
from fmnist.runtime.video.step import FrameStep, check_roi, guide_box, parse_roi
from scripts.product_video import write_video

HOLD, BLANK, SMOOTH = 20, 10, 5  # frames per product, blank frames at the end, the default smoothing window
SETTLE = 8  # frames a new product may take before its label must hold
VIDEO = pytest.mark.xdist_group("live-video")  # the tests on the video share one worker, so it is made once
runner = CliRunner()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> tuple[Path, list[int]]:
    """One confidently classified test image per class, un-inverted and enlarged on a 640x480 light
    background, each held for HOLD frames as a camera would see a product; then BLANK empty frames."""
    test = fashion.load_split("test")
    # the first test image of each class that the 28x28 model gets right with confidence (the photo model does
    # too): each is among the first 40, so the first 1,000 will do rather than all 10,000
    images, labels = test.images[:1000], test.labels[:1000]
    probs = Classifier("edge").predict(images)
    confident = (probs.argmax(1) == labels) & (probs.max(1) > 0.9)
    picked = [int(np.flatnonzero(confident & (labels == k))[0]) for k in range(10)]
    path = tmp_path_factory.mktemp("video") / "products.mp4"
    write_video(path, images[picked], HOLD, BLANK)
    return path, [k for k in range(10) for _ in range(HOLD)] + [-1] * BLANK


@pytest.mark.slow
@VIDEO
@pytest.mark.parametrize(("model", "segments"), [("photo", False), ("edge", True)])
def test_headless_json_matches_the_products_and_abstains_on_blank(video, model, segments):
    path, truth = video
    got = runner.invoke(app, ["live", "--source", str(path), "--model", model, "--no-display", "--json",
                              "--max-frames", str(len(truth))])
    assert got.exit_code == 0, got.output
    rows = [json.loads(line) for line in got.stdout.splitlines()]
    assert len(rows) == len(truth)
    assert set(rows[0]) == {"frame", "label", "score", "fps", "ms", "source_frame", "age_ms"}
    for k in range(10):  # each product is segmented when it appears; its label holds while the mask is reused
        labels = [r["label"] for r, t in zip(rows, truth, strict=True) if t == k][SETTLE:]
        assert sum(label == CLASS_NAMES[k] for label in labels) >= 0.9 * len(labels), (k, labels)
    blank = [r["label"] for r, t in zip(rows, truth, strict=True) if t == -1]
    assert blank[SMOOTH - 1 :] == ["not sure"] * (BLANK - SMOOTH + 1)  # once the window holds only blank frames
    assert f"{len(truth)} frames in" in got.stderr and "labels: " in got.stderr and "per frame: read" in got.stderr
    if segments:  # the cut-out: each of the 11 scenes (10 products, blank) once; a codec artefact may add one
        assert 11 <= int(re.search(r"(\d+) segmented", got.stderr).group(1)) <= 14
    else:  # the photo model's centre crop: nothing to segment
        assert "segmented" not in got.stderr


@pytest.mark.slow
@VIDEO
def test_record_plays_back_with_every_frame(video, tmp_path):
    path, _ = video
    out = tmp_path / "rec.mp4"
    summary = run(LiveConfig(source=str(path), display=False, record=out, max_frames=50))
    assert summary.frames == 50 and not summary.interrupted
    capture = cv2.VideoCapture(str(out))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 50
    ok, frame = capture.read()
    assert ok and frame.shape == (480, 640, 3)


@pytest.mark.slow
@VIDEO
def test_serve_streams_mjpeg_and_status(video):
    path, _ = video
    seen: dict = {}
    urls: list[str] = []

    def say(line: str) -> None:
        urls.extend(re.findall(r"preview on (http://127\.0\.0\.1:\d+/)", line))

    def client() -> None:
        deadline = time.time() + 20
        while time.time() < deadline and "jpeg" not in seen:
            try:
                if not urls:
                    raise OSError("not started yet")
                with urllib.request.urlopen(f"{urls[0]}stream", timeout=5) as stream:
                    head = stream.read(4096)
                    start = head.find(b"\xff\xd8")
                    seen["jpeg"] = start > 0 and head.startswith(b"--fmnistframe") and b"image/jpeg" in head
                with urllib.request.urlopen(f"{urls[0]}status", timeout=5) as status:
                    seen["status"] = json.loads(status.read())
            except OSError:
                time.sleep(0.1)

    thread = threading.Thread(target=client)
    thread.start()
    serve_live(LiveConfig(source=str(path), display=False, max_frames=200), Address("127.0.0.1", 0, "--serve"), say=say)
    thread.join()
    assert seen.get("jpeg") is True
    status = seen["status"]  # today's keys, then the top 3, whether to believe it and the label's age
    assert set(status) == {"frame", "label", "score", "fps", "ms", "sure", "top", "age_ms"}
    top = status["top"]  # three labels, best first; the answer is the best one, or "not sure"
    assert len({t["label"] for t in top}) == 3 and [t["score"] for t in top] == sorted(t["score"] for t in top)[::-1]
    assert status["score"] == top[0]["score"] and status["label"] == (top[0]["label"] if status["sure"] else "not sure")
    assert status["age_ms"] > 0


def test_missing_source_fails_fast_with_what_was_tried(tmp_path):
    started = time.monotonic()
    got = runner.invoke(app, ["live", "--source", str(tmp_path / "nope.mp4"), "--no-display"])
    assert got.exit_code == 1 and time.monotonic() - started < 5
    assert got.stderr.startswith(f"error: cannot open --source {tmp_path / 'nope.mp4'}: tried video file")
    assert "no such file" in got.stderr
    with pytest.raises(SourceError, match=r"tried camera 7 through V4L2"):
        run(LiveConfig(source="7", display=False))


def test_serve_on_a_busy_port_is_a_clear_error():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        got = runner.invoke(app, ["live", "--source", "nope.mp4", "--serve", f"127.0.0.1:{port}", "--no-display"])
    assert got.exit_code == 2  # before the source is opened
    assert got.stderr.startswith(f"error: --serve 127.0.0.1:{port}: Address already in use; pick another port, "
                                 f"e.g. --serve 127.0.0.1:{port + 1}")


def test_the_headless_status_line_words_not_sure_as_the_preview_page_does(tmp_path):
    """"not sure 63%" read as a contradiction: the score was the best guess's, not sure while the scene settled."""
    path = tmp_path / "blank.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (320, 240))
    for _ in range(5):
        writer.write(np.full((240, 320, 3), 128, np.uint8))  # an empty grey scene: nothing to be sure of
    writer.release()
    got = runner.invoke(app, ["live", "--source", str(path), "--no-display"])
    assert got.exit_code == 0, got.output
    status = next(line for line in got.stderr.splitlines() if line.startswith("frame 0: "))
    assert re.match(r"frame 0: not sure \(maybe [^()]+ \d+%\)  [\d.]+ fps  [\d.]+ ms$", status), status


def test_display_decision_without_a_screen():
    assert not display_available({}, probe=lambda: True)  # no $DISPLAY: headless, the window is never tried
    assert not display_available({"DISPLAY": ":0"}, probe=lambda: False)  # a display that refuses a window
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"}, probe=lambda: True)


def test_a_display_nobody_answers_is_headless_with_this_opencv(monkeypatch, tmp_path):
    """The real probe: this OpenCV (headless) shows no window, and the child that asks for one says no. With
    opencv-python's Qt, a $DISPLAY nobody answers aborts the process that asks: hence the child (checked by hand
    with opencv-python 4.x, Qt 5.15: DISPLAY=:99 ran headless, an Xvfb display opened the window)."""
    from fmnist.runtime.video import outputs

    monkeypatch.setenv("DISPLAY", ":99")
    assert not outputs.display_available() and not outputs._window_opens_in_a_child()
    monkeypatch.chdir(tmp_path)  # a cv2.py where live is started is not what the child imports
    Path("cv2.py").write_text("open('ran', 'w').close()\n")
    assert not outputs._window_opens_in_a_child() and not Path("ran").exists()


def test_roi_parsing_and_guide_box():
    assert parse_roi("10,20,300,200") == (10, 20, 300, 200)
    for bad in ("1,2,3", "a,b,c,d", "0,0,4,4"):
        with pytest.raises(UsageError, match="--roi"):
            parse_roi(bad)
    assert guide_box(640, 480, None) == (176, 96, 288, 288)
    assert guide_box(640, 480, (400, 200, 300, 300)) == (400, 200, 240, 280)  # clipped to the frame
    with pytest.raises(UsageError, match="less than half of it lies in the 640x480 frame"):
        check_roi(640, 480, (600, 400, 300, 300))  # on the first frame
    assert guide_box(640, 480, (600, 400, 300, 300)) == (600, 400, 40, 80)  # a later frame of another size: clipped
    assert guide_box(64, 1, None) == (31, 0, 1, 1)  # a frame 1 px tall: a box of one pixel, never of none
    got = runner.invoke(app, ["live", "--roi", "1,2", "--no-display"])
    assert got.exit_code == 2 and got.stderr.startswith("error: --roi takes x,y,w,h")


def test_a_frame_one_pixel_tall_is_not_sure_not_a_crash():
    result, annotated = FrameStep(Classifier("edge"))(np.full((1, 64, 3), 128, np.uint8))
    assert result.label == "not sure" and result.box == (31, 0, 1, 1) and annotated.shape == (1, 64, 3)
