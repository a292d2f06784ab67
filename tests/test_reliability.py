"""Bad inputs and faults not covered elsewhere; docs/reliability.md maps every row to its test."""

from __future__ import annotations

import errno
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from served import start_served
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.runtime.classifier import default_model
from fmnist.runtime.video.preview import Preview
from scripts.product_video import write_held, write_video
from tests.live_sources import STALLS

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photos" / "pants.jpg"
runner = CliRunner()


def classify_json(*paths: Path) -> tuple[int, list[dict], str]:
    got = runner.invoke(app, ["classify", *map(str, paths), "--json"])
    return got.exit_code, [json.loads(line) for line in got.stdout.splitlines()], got.stderr


# --- images ---------------------------------------------------------------------------------------------

def test_image_1x1_is_classified_and_flagged_empty(tmp_path):
    cv2.imwrite(str(tmp_path / "dot.png"), np.full((1, 1, 3), 128, np.uint8))
    code, (row,), _ = classify_json(tmp_path / "dot.png")
    assert code == 0 and row["empty"] is True  # no object: flagged, never a silent confident label


def test_image_blank_photo_json_is_valid(tmp_path):
    cv2.imwrite(str(tmp_path / "blank.jpg"), np.full((300, 400, 3), 230, np.uint8))
    code, (row,), _ = classify_json(tmp_path / "blank.jpg")
    assert code == 0 and row["empty"] is True and isinstance(row["low_contrast"], bool)


def test_image_20000x20000_is_refused_before_decoding(tmp_path):
    # a real PNG header declaring 20000x20000; decoding it would need 1.2 GB
    ihdr = (20000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    blob = b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + ihdr + b"\0\0\0\0" + b"\0" * 64
    (tmp_path / "huge.png").write_bytes(blob)
    code, (row,), _ = classify_json(tmp_path / "huge.png")
    assert code == 1 and "20000x20000 is 400 megapixels, over the 100 MP limit" in row["error"]


def test_image_cmyk_jpeg(tmp_path):
    from PIL import Image  # Pillow comes with matplotlib (the train extra)

    from fmnist.runtime.image import read_image

    twin = ROOT / "examples" / "photos" / "outwear.jpg"
    Image.open(twin).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    decoded = read_image(tmp_path / "cmyk.jpg")
    assert decoded.shape == read_image(twin).shape  # decoded to BGR, colours kept
    assert np.abs(decoded.astype(np.int16) - read_image(twin)).mean() < 3
    code, rows, _ = classify_json(tmp_path / "cmyk.jpg", twin)
    assert code == 0 and rows[0]["label"] == rows[1]["label"]


def test_image_symlink_loop_in_a_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(PHOTO.read_bytes())
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    code, rows, _ = classify_json(folder)
    assert code == 0 and [Path(r["input"]).name for r in rows] == ["a.jpg"]


# --- models ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.onnx", None, "does not exist"),
    ("text.onnx", b"this is not a model", "is not a loadable ONNX model"),
    ("truncated.onnx", "half", "is not a loadable ONNX model"),
    ("model.tflite", "tflite", "the runtime runs .onnx models"),
])
def test_model_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content == "half":
        path.write_bytes(default_model().read_bytes()[:20000])
    elif content == "tflite":
        path.write_bytes(b"\x1c\0\0\0TFL3" + b"\0" * 100)
    elif content is not None:
        path.write_bytes(content)
    got = runner.invoke(app, ["classify", str(PHOTO), "--model", str(path)])
    assert got.exit_code == 4 and got.stderr.startswith("error: ") and message in got.stderr
    assert got.stderr.count("\n") == 1


# --- data -----------------------------------------------------------------------------------------------

def test_data_unreadable_files(tmp_path):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (tmp_path / name).mkdir()  # a folder where a file should be: unreadable even for root
    got = runner.invoke(app, ["data", "info", "--data-dir", str(tmp_path)])
    assert got.exit_code == 3 and "lacks" in got.stderr  # not a file: reported as missing, with the fix


# --- export ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_export_full_disk_leaves_no_partial_file(exported_mlp, tmp_path, monkeypatch):
    from fmnist.core.errors import FmnistError
    from fmnist.export.pipeline import ExportOptions, export

    real = Path.write_bytes

    def full_disk(self, data):  # the writer fails half-way, as on a full disk
        if ".tmp" in self.name and self.name.endswith(".onnx"):
            real(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(FmnistError, match=r"cannot write .*model.onnx: No space left on device"):
        export(exported_mlp, ExportOptions(tflite=False, out=tmp_path))
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*tmp*"))


def test_export_conflicting_flags():
    got = runner.invoke(app, ["export", "runs/x", "--fp16", "--no-tflite"])
    assert got.exit_code == 2 and "--fp16 writes model.fp16.tflite" in got.stderr


# --- live -----------------------------------------------------------------------------------------------

@STALLS
@pytest.mark.slow
def test_live_stream_that_stops_midway_exits_1():
    preview, stop = Preview(), threading.Event()
    server = start_served(preview=preview)

    def publish() -> None:
        for i in range(40):
            _, jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), 200 - i, np.uint8))
            preview.publish(jpeg.tobytes(), {})
            time.sleep(0.03)
        stop.set()
        preview.close()
        server.stop()

    threading.Thread(target=publish, daemon=True).start()
    started = time.monotonic()
    got = runner.invoke(app, ["live", "--source", f"http://127.0.0.1:{server.port}/stream", "--no-display"])
    assert stop.is_set() and time.monotonic() - started < 30
    assert got.exit_code == 1 and "stopped sending frames and did not come back after 3 retries" in got.stderr
    summary, error = got.stderr.splitlines()[-2:]  # what it saw first (a Pi's journal keeps it), then why it ended
    assert re.match(r"\d+ frames in [\d.]+ s, ", summary) and error.startswith("error: stream "), got.stderr


@pytest.mark.slow
def test_live_source_of_empty_frames_says_not_sure(tmp_path):
    write_video(tmp_path / "dark.mp4", np.zeros((0, 28, 28), np.uint8), hold=0, blank=12)
    got = runner.invoke(app, ["live", "--source", str(tmp_path / "dark.mp4"), "--no-display", "--json"])
    assert got.exit_code == 0
    assert {json.loads(line)["label"] for line in got.stdout.splitlines()} == {"not sure"}


@pytest.mark.slow
def test_live_stopped_while_recording_leaves_a_playable_file(tmp_path):
    """Ctrl-C, systemctl/docker stop (SIGTERM, once or twice) and a closed terminal (SIGHUP) all finalize the
    recording: four runs at once, each stopped mid-video."""
    from fmnist.data import fashion

    # 40 s at 5 fps: 20 products, each drawn once (its noise costs ~20 ms) and held for 10 frames
    write_held(tmp_path / "long.mp4", [(image, 10) for image in fashion.load_split("test").images[:20]], fps=5.0)
    fmnist = Path(sys.executable).parent / "fmnist"
    stops = {"ctrl_c": signal.SIGINT, "sigterm": signal.SIGTERM, "sighup": signal.SIGHUP, "twice": signal.SIGTERM}
    # A shell starts background jobs with SIGINT ignored, and children inherit that: give these a terminal's
    # default, as for a user pressing Ctrl-C, wherever the test suite itself was started.
    # --realtime plays the 40 s video at its own 5 fps, so the signal lands mid-video however fast the loop is
    runs = {name: subprocess.Popen([fmnist, "live", "--source", str(tmp_path / "long.mp4"), "--no-display",
                                    "--realtime", "--record", str(tmp_path / f"{name}.mp4")],
                                   stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            for name in stops}
    for name, process in runs.items():
        assert process.stderr is not None
        for line in process.stderr:  # stop it once the loop reports progress past frame 0: mid-recording
            if line.startswith("frame ") and int(line.split()[1].rstrip(":")) > 0:
                break
        process.send_signal(stops[name])
        if name == "twice":  # systemd and shells often send a second one: it must not cut the cleanup short
            process.send_signal(stops[name])
    for name, process in runs.items():
        _, err = process.communicate(timeout=30)
        last = err.strip().splitlines()[-1]
        assert process.returncode == 0 and last.startswith("interrupted: "), (name, err)
        assert name == "ctrl_c" or last.endswith(f"stopped by {stops[name].name}")
        frames = int(last.split()[1])
        capture = cv2.VideoCapture(str(tmp_path / f"{name}.mp4"))
        assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == frames > 0, name


# --- CLI ------------------------------------------------------------------------------------------------

def test_cli_unknown_option_suggests_the_right_one():
    got = runner.invoke(app, ["classify", str(PHOTO), "--modle", "x.onnx"])
    assert got.exit_code == 2 and "No such option" in got.output and "--model" in got.output


@pytest.mark.parametrize(("args", "where"), [(["classify", "--modle", "x"], "fmnist classify"),
                                             (["classify"], "fmnist classify"), (["frob"], "fmnist"),
                                             (["--nope"], "fmnist"), (["data", "fetch", "--nope"], "fmnist data fetch"),
                                             (["live", "--source"], "fmnist live")])
def test_a_usage_error_is_one_error_line_with_where_the_help_is(args, where):
    """Typer's own parse errors read as every other error: one `error:` line, exit 2, no boxed panel."""
    got = runner.invoke(app, args, prog_name="fmnist")
    assert got.exit_code == 2, got.output
    assert got.output.startswith("error: ") and got.output.endswith(f"; see {where} --help\n"), got.output
    assert got.output.count("\n") == 1 and "╭" not in got.output


def test_cli_negative_top():
    got = runner.invoke(app, ["classify", str(PHOTO), "--top", "-1"])
    assert got.exit_code == 2 and "--top" in got.output
