"""Every command that writes into a folder claims its names or refuses over a file it did not make: export --out,
train --out and train-own --out (fmnist.core.owned), bench --plot (a free name, claimed at the end too), bundle
(a folder of yours inside an earlier bundle) and live --record (written under a hidden name, renamed when
finished). docs/reliability.md maps each case to its test here."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from photo_tree import make_tree
from typer.testing import CliRunner

from fmnist import __version__
from fmnist.cli import app
from fmnist.core.errors import UsageError
from fmnist.core.owned import MANIFEST, OwnedFolder

runner = CliRunner()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) and its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(got, code: int) -> str:
    assert got.exit_code == code, got.output
    assert got.stderr.startswith("error: ") and got.stderr.count("\n") == 1 and "Traceback" not in got.output
    return got.stderr


# --- export --out -----------------------------------------------------------------------------------------------

def test_export_refuses_a_folder_holding_a_model_and_a_report_of_yours_before_it_builds(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"not even a model: export must refuse before it reads it")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"an unrelated model of the user's")
    (out / "parity.md").write_text("my notes on parity\n")
    (out / "other.txt").write_text("not a name export writes")
    before = snapshot(out)
    err = one_error_line(runner.invoke(app, ["export", str(run), "--int8", "--out", str(out)]), 2)
    assert "model.onnx, parity.md, which fmnist did not write" in err and "nothing was written" in err
    assert "other.txt" not in err
    assert snapshot(out) == before  # byte for byte, and nothing added


@pytest.mark.slow
def test_export_replaces_its_own_files_and_refuses_one_you_edited(exported_cnn, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exported_cnn, run)
    files = json.loads((run / MANIFEST).read_text())["files"]
    assert {"model.onnx", "model.int8.onnx", "parity.json", "parity.md"} <= set(files)  # the fixture's export
    got = runner.invoke(app, ["export", str(run), "--no-tflite"])  # the normal path: the run's own folder again
    assert got.exit_code == 0, got.output
    with (run / "parity.md").open("a") as f:
        f.write("\nmy own note\n")
    edited = snapshot(run)
    err = one_error_line(runner.invoke(app, ["export", str(run), "--no-tflite"]), 2)
    assert "holds parity.md, which fmnist did not write (or which changed since)" in err
    assert snapshot(run) == edited


@pytest.mark.slow
def test_export_replaces_an_earlier_export_made_before_the_manifest(exported_cnn, tmp_path):
    out = tmp_path / "earlier"
    out.mkdir()
    for name in ("model.onnx", "model.int8.onnx", "parity.json", "parity.md"):  # no manifest: an older export
        shutil.copy(exported_cnn / name, out / name)
    got = runner.invoke(app, ["export", str(exported_cnn), "--no-tflite", "--out", str(out)])
    assert got.exit_code == 0, got.output


def test_a_file_put_under_a_name_while_fmnist_worked_is_never_replaced(tmp_path):
    """Checked before the work and again as each file is written: a name taken meanwhile is refused."""
    folder = OwnedFolder(tmp_path, "--out")
    folder.refuse_foreign(["a.json"])  # free now
    with pytest.raises(UsageError, match="a file fmnist did not write was put there while it worked"), \
            folder.writing("a.json") as tmp:
        tmp.write_text("fmnist's")
        (tmp_path / "a.json").write_text("the user's, made meanwhile")
    assert (tmp_path / "a.json").read_text() == "the user's, made meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # no temp file, no manifest entry
    folder.write_json("b.json", {"n": 1})
    folder.write_json("b.json", {"n": 2})  # fmnist's own file, unchanged since: replaced
    assert json.loads((tmp_path / "b.json").read_text()) == {"n": 2}


# --- train --out, train-own --out ---------------------------------------------------------------------------------

def test_train_refuses_a_run_folder_holding_a_file_of_yours_before_it_trains(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "history.json").write_text('{"my": "own history"}')
    (out / "confusion.png").write_bytes(b"my own picture")
    before = snapshot(out)
    no_data = tmp_path / "no-data"  # were the data read first, this would be exit 3: the refusal comes before
    err = one_error_line(runner.invoke(app, ["train", "--model", "mlp", "--epochs", "1", "--out", str(out),
                                             "--data-dir", str(no_data)]), 2)
    assert "holds history.json, confusion.png, which fmnist did not write" in err
    assert snapshot(out) == before


def test_train_own_refuses_a_file_of_yours_in_its_run_folder(tmp_path):
    photos = make_tree(tmp_path / "photos", per_class=2, classes=("hat", "pants"))
    out = tmp_path / "run"
    out.mkdir()
    (out / "own_data.npz").write_bytes(b"my own arrays")
    before = snapshot(out)
    err = one_error_line(runner.invoke(app, ["train-own", str(photos), "--out", str(out)]), 2)
    assert "holds own_data.npz, which fmnist did not write" in err
    assert snapshot(out) == before


def test_a_run_folder_fmnist_wrote_is_reused_and_one_whose_card_is_not_fmnist_s_is_refused(tmp_path):
    from fmnist.train.run_folder import run_folder

    earlier = tmp_path / "earlier"  # a run written before the manifest existed: its run card says fmnist's
    earlier.mkdir()
    (earlier / "metrics.json").write_text(json.dumps({"model": "edge", "versions": {"fmnist": "0.9.0"}}))
    (earlier / "model.keras").write_bytes(b"an earlier run's model")
    run_folder(earlier, ["confusion.png"])  # accepted: fmnist replaces its own run
    yours = tmp_path / "yours"
    yours.mkdir()
    (yours / "metrics.json").write_text(json.dumps({"accuracy": 0.9}))  # someone's metrics, not a run card
    with pytest.raises(UsageError, match=r"holds metrics\.json, which fmnist did not write"):
        run_folder(yours)


# --- bench --plot -------------------------------------------------------------------------------------------------

def test_bench_plot_claims_its_name_at_the_end_and_keeps_a_file_made_meanwhile(tmp_path):
    from fmnist.deploy.bench.run import BenchReport, BenchRow, plot

    rows = [BenchRow(model="runs/x/model.onnx", format="onnx", precision="fp32", size_kb=100.0, threads=1,
                     accuracy=0.9, accuracy_on="Fashion-MNIST test images", photos=None, cold_ms=1.0, p50_us=50.0,
                     p90_us=50.0, p99_us=50.0, throughput_batch=64, throughput_ips=1000, peak_rss_mb=50.0)]
    report = BenchReport({}, 1, rows, [], "")
    mine = tmp_path / "p.png"
    mine.write_bytes(b"made while bench timed")  # bench checked the name at its start; it is taken by the end
    with pytest.raises(UsageError, match="a file was made under this name while fmnist worked; it is left as it"):
        plot(report, mine)
    assert mine.read_bytes() == b"made while bench timed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]  # no temp file left
    plot(report, tmp_path / "free.png")
    assert cv2.imread(str(tmp_path / "free.png")) is not None


# --- bundle -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A stand-in for this fmnist's wheel: the bundle only copies it."""
    path = tmp_path_factory.mktemp("wheel") / f"fmnist-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("fmnist/__init__.py", f"__version__ = '{__version__}'\n")
    return path


@pytest.mark.parametrize("name", [".fmnist-archive", ".fmnist-bundle"])
def test_a_folder_of_yours_named_like_bundle_s_own_records_is_kept(tmp_path, wheel, name):
    out = tmp_path / "pi"
    assert runner.invoke(app, ["bundle", "--out", str(out), "--wheel", str(wheel)]).exit_code == 0
    (tmp_path / "pi.tar.gz").unlink()  # copied to the Pi and removed: nothing left to tell the bundle by but itself
    marker = out / name
    marker.unlink()
    marker.mkdir()
    (marker / "keys.txt").write_text("the user's own file")
    before = snapshot(tmp_path)
    err = one_error_line(runner.invoke(app, ["bundle", "--out", str(out), "--wheel", str(wheel)]), 2)
    assert "nothing was touched" in err and ("not written by fmnist bundle" in err or "is not a bundle" in err)
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["pi"]


# --- live --record --------------------------------------------------------------------------------------------------

def test_a_recording_never_replaces_a_file_put_under_its_name_while_it_ran(tmp_path):
    from fmnist.runtime.video.outputs import Recorder, check_new_recording

    path = tmp_path / "r.avi"
    check_new_recording(path)
    assert path.stat().st_size == 0  # the name is claimed at once, with an empty file
    recorder = Recorder(path, 15)
    for _ in range(3):
        recorder.write(np.full((48, 64, 3), 128, np.uint8))
    assert path.stat().st_size == 0  # the frames go to a hidden file beside it
    (tmp_path / "theirs").write_bytes(b"someone's video")
    os.replace(tmp_path / "theirs", path)  # put over the claim while recording
    recorder.close()
    assert path.read_bytes() == b"someone's video"
    assert recorder.temp is not None and f"the recording is kept as {recorder.temp}" in recorder.incomplete
    assert cv2.VideoCapture(str(recorder.temp)).get(cv2.CAP_PROP_FRAME_COUNT) == 3


def small_video(path: Path, frames: int, fps: float = 15.0) -> Path:
    """A grey 320x240 video with a dark box: cheap to write, and read frame for frame by live."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    image = np.full((240, 320, 3), 200, np.uint8)
    cv2.rectangle(image, (120, 60), (200, 180), (40, 40, 40), -1)
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


def test_sigkill_while_recording_leaves_no_half_recording_and_the_next_run_says_what_to_do(tmp_path):
    video, record = small_video(tmp_path / "in.mp4", 150), tmp_path / "x.mp4"  # 10 s at 15 fps
    live = ["live", "--source", str(video), "--model", "edge", "--no-display", "--record", str(record)]
    child = subprocess.Popen([sys.executable, "-m", "fmnist", *live, "--realtime"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".x.*.part.mp4")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp_path.glob(".x.*.part.mp4")), "the recording never started"
        time.sleep(0.5)  # a few frames in
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert record.stat().st_size == 0  # the claim only: nothing that looks like a recording under the final name
    err = one_error_line(runner.invoke(app, live), 2)
    assert err.startswith(f"error: --record {record}: the file exists") and f"rm {record}" in err
    assert ".part.mp4 beside it" in err  # where the unfinished frames are
    record.unlink()
    done = runner.invoke(app, [*live, "--max-frames", "5"])
    assert done.exit_code == 0, done.output
    assert cv2.VideoCapture(str(record)).get(cv2.CAP_PROP_FRAME_COUNT) == 5
