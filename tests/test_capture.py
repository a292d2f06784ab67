"""Newest frame, always: a consumer slower than its source skips stale frames and counts them; a file read
frame by frame skips none. Real video files written with cv2.VideoWriter, read through cv2.VideoCapture."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.runtime.video.capture import EveryFrame, LatestFrame
from fmnist.runtime.video.live import open_frames
from fmnist.runtime.video.sources import VideoSource

FRAMES = 60


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory) -> Path:
    """60 frames at 100 fps; frame n is filled with grey level 4n, so a frame tells its own number."""
    path = tmp_path_factory.mktemp("video") / "numbered.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 100.0, (64, 48))
    for n in range(FRAMES):
        writer.write(np.full((48, 64, 3), 4 * n, np.uint8))
    writer.release()
    return path


def _drain(frames: EveryFrame | LatestFrame, work_s: float) -> list[int]:
    numbers = []
    while (got := frames.get()) is not None:
        numbers.append(got.number)
        assert abs(int(got.image.mean()) - 4 * got.number) <= 3  # the image is the frame its number says
        time.sleep(work_s)  # a consumer slower than the source
    frames.stop()
    return numbers


def test_a_slow_consumer_gets_the_newest_frames_and_the_skipped_ones_are_counted(numbered_video):
    source = VideoSource(str(numbered_video))
    frames = open_frames(source, realtime=True)  # played at its own 100 fps, as a camera would deliver it
    assert isinstance(frames, LatestFrame)
    numbers = _drain(frames, work_s=0.035)  # ~3.5 frame intervals per frame
    source.release()
    assert numbers == sorted(set(numbers)) and numbers[-1] == FRAMES - 1  # increasing, up to the last frame
    gaps = numbers[0] + sum(b - a - 1 for a, b in itertools.pairwise(numbers))
    assert gaps >= FRAMES // 4 and frames.dropped == gaps  # many were stale; every skipped one is counted
    assert len(numbers) + frames.dropped == FRAMES


def test_a_file_is_read_frame_by_frame_by_default(numbered_video):
    source = VideoSource(str(numbered_video))
    frames = open_frames(source)
    assert isinstance(frames, EveryFrame)
    assert _drain(frames, work_s=0.0) == list(range(FRAMES)) and frames.dropped == 0
    source.release()


def test_live_reports_source_frames_label_age_and_drops(numbered_video):
    got = CliRunner().invoke(app, ["live", "--source", str(numbered_video), "--no-display", "--json"])
    assert got.exit_code == 0, got.output
    rows = [json.loads(line) for line in got.stdout.splitlines() if line.startswith("{")]
    assert [r["source_frame"] for r in rows] == list(range(FRAMES))
    assert all(r["age_ms"] >= r["ms"] > 0 for r in rows)  # the age includes the processing
    assert f"{FRAMES} frames" in got.stderr and "0 dropped as stale" in got.stderr and "label age p50" in got.stderr


def test_a_source_that_fails_in_the_capture_thread_raises_in_the_consumer():
    def broken() -> np.ndarray:
        raise OSError("camera unplugged")

    frames = LatestFrame(broken)
    with pytest.raises(OSError, match="unplugged"):
        frames.get()
    frames.stop()
