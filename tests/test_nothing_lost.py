"""No command writes over a file it did not make in this run, and faults in the frame path never end a run:
classify --save, live --record and --collect, huge images in a batch, a stream that changes size, a
segmentation that raises. docs/reliability.md maps each case to its test here."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core import atomic
from fmnist.data import fashion
from fmnist.runtime.cutout import preprocess, segment
from fmnist.runtime.preparation import CUTOUT
from fmnist.runtime.video.scene import ScenePreprocess
from fmnist.runtime.video.segmenter import BackgroundSegmenter, Segmenter
from scripts.product_video import frame as product_frame
from scripts.product_video import write_video

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photos" / "pants.jpg"
runner = CliRunner()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def classify(*args: str) -> tuple[int, list[dict], str]:
    got = runner.invoke(app, ["classify", *args, "--json"])
    return got.exit_code, [json.loads(line) for line in got.stdout.splitlines()], got.stderr


# --- classify --save -----------------------------------------------------------------------------------------

def test_save_into_the_photo_s_own_folder_keeps_the_photo(tmp_path):
    photo = tmp_path / "pants.jpg"
    shutil.copy(PHOTO, photo)
    before = digest(photo)
    code, _, err = classify(str(photo), "--save", str(tmp_path))
    assert code == 0, err
    assert digest(photo) == before  # the user's photo, byte for byte
    assert cv2.imread(str(tmp_path / "pants-2.jpg")) is not None  # the annotated copy took the next free name


def test_save_never_replaces_an_existing_file_of_the_same_name(tmp_path):
    out = tmp_path / "annotated"
    out.mkdir()
    mine = out / "pants.jpg"
    mine.write_bytes(b"the user's own file")
    (out / "pants-2.jpg").write_bytes(b"another one")
    for _ in range(2):  # a second run adds its copies beside the first run's
        assert classify(str(PHOTO), "--save", str(out))[0] == 0
    assert mine.read_bytes() == b"the user's own file" and (out / "pants-2.jpg").read_bytes() == b"another one"
    assert sorted(p.name for p in out.iterdir()) == ["pants-2.jpg", "pants-3.jpg", "pants-4.jpg", "pants.jpg"]


def test_a_save_folder_inside_the_input_folder_is_not_classified(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(PHOTO, photos / "pants.jpg")
    for _ in range(2):  # the second run walks a folder that holds the first run's copies
        code, rows, err = classify(str(photos), "--save", str(photos / "annotated"))
        assert code == 0, err
        assert [Path(r["input"]).name for r in rows] == ["pants.jpg"]
    assert len(list((photos / "annotated").iterdir())) == 2


def test_save_into_the_folder_being_classified_never_classifies_its_own_copies(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        shutil.copy(PHOTO, tmp_path / name)
    code, rows, err = classify(str(tmp_path), "--save", str(tmp_path))
    assert code == 0, err
    assert [Path(r["input"]).name for r in rows] == ["a.jpg", "b.jpg", "c.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-2.jpg", "a.jpg", "b-2.jpg", "b.jpg", "c-2.jpg", "c.jpg"]


def test_a_save_folder_that_cannot_be_made_is_one_error_line(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    got = runner.invoke(app, ["classify", str(PHOTO), "--save", str(tmp_path / "file" / "out")])
    assert got.exit_code == 1 and got.stderr.startswith("error: cannot write annotated copies into ")
    assert "Traceback" not in got.output


# --- unique names across writers (live --collect, --save, snapshots) ------------------------------------------

def test_write_new_gives_every_writer_its_own_name_under_a_race(tmp_path):
    """Eight writers, 40 files each, all starting from the same names: every file lands whole under its own
    name (the names two `live --collect` runs compute in the same second are the same)."""
    def writer(n: int) -> None:
        for i in range(40):
            atomic.write_new(f"{n}:{i}".encode(), atomic.free_names(tmp_path, "disc-20261204-120000-00000", ".jpg"))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = list(tmp_path.iterdir())
    contents = {p.read_text() for p in files}
    assert len(files) == 320 and contents == {f"{n}:{i}" for n in range(8) for i in range(40)}


@pytest.mark.slow
def test_two_collect_runs_into_one_folder_keep_every_photo(tmp_path):
    video = tmp_path / "v.avi"
    write_video(video, fashion.load_split("test").images[:1], hold=12, blank=0)
    folder = tmp_path / "photos"
    command = [str(Path(sys.executable).parent / "fmnist"), "live", "--source", str(video), "--no-display",
               "--collect", str(folder), "--collect-label", "shirt", "--every", "1"]
    # two processes at once compute the same names (label, second, count from the same start)
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    saved = list((folder / "shirt").iterdir())
    assert len(saved) == 24 and all(cv2.imread(str(p)) is not None for p in saved)


# --- live --record ---------------------------------------------------------------------------------------------

def test_record_over_an_existing_file_is_refused_and_the_file_kept(tmp_path):
    video = tmp_path / "v.avi"
    write_video(video, fashion.load_split("test").images[:1], hold=3, blank=0)
    mine = tmp_path / "holiday.mp4"
    mine.write_bytes(b"a video the user made")
    got = runner.invoke(app, ["live", "--source", str(video), "--no-display", "--record", str(mine)])
    assert got.exit_code == 2 and got.stderr.startswith(f"error: --record {mine}: the file exists")
    assert mine.read_bytes() == b"a video the user made"


# --- images a batch cannot decode ------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_144_megapixel_tiff_is_skipped_and_the_batch_goes_on(tmp_path):
    huge = tmp_path / "huge.tif"
    assert cv2.imwrite(str(huge), np.zeros((12000, 12000), np.uint8))  # a few MB on disk, 144 MP decoded
    code, rows, err = classify(str(huge), str(PHOTO))
    assert code == 1 and "Traceback" not in err
    assert rows[0]["input"] == str(huge) and "pixels" in rows[0]["error"]
    assert rows[1]["input"] == str(PHOTO) and rows[1]["label"] == "Trouser"


def test_an_image_over_the_pixel_limit_is_refused_after_decoding_where_no_header_is_read(tmp_path, monkeypatch):
    from fmnist.runtime import image as pre

    tiff = tmp_path / "wide.tif"
    assert cv2.imwrite(str(tiff), np.zeros((100, 400), np.uint8))
    monkeypatch.setattr(pre, "MAX_PIXELS", 10_000)  # the limit's rule, on a small file: TIFF has no header check
    with pytest.raises(pre.ImageError, match="400x100 is 0 megapixels, over the 0 MP limit"):
        pre.read_image(tiff)


# --- the frame path ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trouser() -> np.ndarray:
    test = fashion.load_split("test")
    return test.images[np.flatnonzero(test.labels == 1)[0]]


def test_a_stream_that_comes_back_at_another_size_is_segmented_anew(trouser):
    """A low-resolution stream under the work size keeps its own size; its thumbnail is the same as at 640x480."""
    rng = np.random.default_rng(0)
    large = product_frame(rng, trouser)
    small = cv2.resize(large, (100, 75), interpolation=cv2.INTER_AREA)  # the same scene at a 100x75 stream's size
    scene = ScenePreprocess(CUTOUT.frame_path())
    scene(small)
    scene(small)
    got = scene(large)  # the old mask does not fit the new size: segmented again, not reused
    assert scene.segmented == 2 and not got.empty
    expected = preprocess(large)
    assert np.array_equal(got.image, expected.image) and got.box == expected.box


@pytest.mark.parametrize("background", [False, True])
def test_a_segmentation_that_raises_leaves_the_frame_unsure_and_the_run_going(trouser, capsys, background):
    calls = []

    def fails_once(small: np.ndarray):
        calls.append(1)
        if len(calls) == 1:
            raise cv2.error("a frame OpenCV chokes on")
        return segment(small)

    segmenter = BackgroundSegmenter(fails_once) if background else Segmenter(fails_once)
    scene = ScenePreprocess(CUTOUT.frame_path(), segmenter)
    frames = [product_frame(np.random.default_rng(i), trouser) for i in range(4)]
    try:
        first = scene(frames[0])
        if background:
            assert segmenter.wait()  # type: ignore[attr-defined]
        later = [scene(f) for f in frames[1:]]
        if background:
            assert segmenter.wait()  # type: ignore[attr-defined]
            later.append(scene(frames[-1]))
    finally:
        scene.close()
    assert first.empty and segmenter.failures == 1
    assert not later[-1].empty and scene.segmented == 1  # the worker lives on: the scene is labelled
    assert capsys.readouterr().err.count("warning: segmentation failed") == 1


def test_a_pipe_or_a_symlink_loop_is_skipped_and_the_batch_goes_on(tmp_path):
    os.mkfifo(tmp_path / "fifo.jpg")  # reading it would block for ever
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    code, rows, err = classify(str(tmp_path / "fifo.jpg"), str(tmp_path / "loop.jpg"), str(PHOTO))
    assert code == 1 and "Traceback" not in err
    assert [("error" in r) for r in rows] == [True, True, False] and rows[2]["label"] == "Trouser"
    assert "not a regular file" in rows[0]["error"] and "cannot read" in rows[1]["error"]


def test_record_claims_its_name_at_once_and_gives_it_back_when_nothing_was_recorded(tmp_path):
    (tmp_path / "afile").write_text("a file, not a folder")
    got = runner.invoke(app, ["live", "--source", str(tmp_path / "none.mp4"), "--record", str(tmp_path / "r.mp4")])
    assert got.exit_code == 1 and not (tmp_path / "r.mp4").exists()  # the source failed: the claimed name is freed
    got = runner.invoke(app, ["live", "--source", "0", "--record", str(tmp_path / "afile" / "r.mp4")])
    assert got.exit_code == 2 and got.stderr.startswith("error: --record ") and "Traceback" not in got.output


def _small_files(limit: int) -> None:
    """In the child: writes past `limit` bytes fail as on a full disk (EFBIG, not the signal that would kill it)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_stream_that_changes_size_is_recorded_whole(tmp_path):
    from fmnist.runtime.video.outputs import Recorder

    recorder = Recorder(tmp_path / "r.avi", 15)
    for width, height in [(320, 240)] * 3 + [(640, 480)] * 3:
        recorder.write(np.full((height, width, 3), 128, np.uint8))
    recorder.close()
    capture = cv2.VideoCapture(str(tmp_path / "r.avi"))
    assert recorder.incomplete == "" and capture.get(cv2.CAP_PROP_FRAME_COUNT) == 6
    assert capture.read()[1].shape == (240, 320, 3)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_a_recording_that_could_not_be_written_whole_fails_the_run(tmp_path, suffix):
    video, record = tmp_path / "in.mp4", tmp_path / f"r{suffix}"
    write_video(video, fashion.load_split("test").images[:1], hold=12, blank=0)
    got = subprocess.run([sys.executable, "-m", "fmnist", "live", "--source", str(video), "--model", "edge",
                          "--no-display", "--record", str(record)], capture_output=True, text=True, timeout=120,
                         preexec_fn=lambda: _small_files(20_000))
    assert got.returncode == 1 and "Traceback" not in got.stderr, got.stderr
    assert f"error: --record {record}: the file is incomplete: not all of the 12 frames written reached it (is the " \
           "disk full?)" in got.stderr


def test_bench_refuses_to_plot_over_a_file_before_it_times_anything(tmp_path):
    mine = tmp_path / "fig.png"
    mine.write_bytes(b"the user's figure")
    got = runner.invoke(app, ["bench", "--model", "edge", "--plot", str(mine)])
    assert got.exit_code == 2 and "the file exists" in got.stderr and mine.read_bytes() == b"the user's figure"


def test_bench_names_a_missing_model_or_a_pipe_as_classify_and_info_do_and_times_a_model_named_twice_once(tmp_path):
    os.mkfifo(tmp_path / "pipe.onnx")  # opened, it would block for ever
    for name, said in (("gone.onnx", "does not exist"), ("pipe.onnx", "not a regular file (a folder, a pipe or a "
                                                                      "device)")):
        got = runner.invoke(app, ["bench", "--model", str(tmp_path / name)])
        info = runner.invoke(app, ["info", "--model", str(tmp_path / name)])
        assert got.exit_code == info.exit_code == 4 and said in got.stderr and said in info.stderr, got.stderr
    got = runner.invoke(app, ["bench", "-m", "edge", "-m", "edge", "--threads", "1", "--batch-size", "1",
                              "--iterations", "10", "--rounds", "1", "--json"])
    assert got.exit_code == 0 and len(json.loads(got.stdout)["rows"]) == 1


def test_export_names_a_model_keras_that_is_a_pipe_as_no_regular_file_not_as_missing(tmp_path):
    os.mkfifo(tmp_path / "model.keras")
    got = runner.invoke(app, ["export", str(tmp_path)])
    assert got.exit_code == 4 and got.stderr == (f"error: cannot read {tmp_path}/model.keras: not a regular file (a "
                                                 "folder, a pipe or a device, or a link to none)\n"), got.stderr


@pytest.mark.parametrize(("name", "said"), [("fig.txt", "bench draws a PNG; give a name like plot.png"),
                                            ("notes.txt/fig.png", "notes.txt is not a folder"),
                                            ("gone/fig.png", "gone does not exist")])
def test_bench_refuses_a_plot_it_could_not_write_before_it_times_anything(tmp_path, monkeypatch, name, said):
    """Each was a traceback once the timing was done: matplotlib's "Format 'txt' is not supported", a
    FileExistsError, a FileNotFoundError."""
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("mine")
    got = runner.invoke(app, ["bench", "--model", "edge", "--plot", name])
    assert got.exit_code == 2 and got.stderr == f"error: --plot {name}: {said}" + (
        "" if name == "fig.txt" else "; give a path in a folder you can write in") + "\n", got.stderr
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
