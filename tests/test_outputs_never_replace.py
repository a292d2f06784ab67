"""Every command that writes into a folder claims its names or refuses over a file it did not make: export --out,
train --out and train-own --out (fmnist.core.owned), bench --plot (a free name, claimed at the end too), bundle
(a folder of yours inside an earlier bundle) and live --record (written under a hidden name, renamed when
finished). docs/reliability.md maps each case to its test here."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from conftest import MLP_GATE, Reruns
from fresh_process import run_fresh
from photo_tree import make_tree
from typer.testing import CliRunner
from videos import small_video

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
    keras_file(run / "model.keras")  # a zip as Keras writes one, whose weights are not even HDF5: never loaded
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


ASSETS = Path(__file__).resolve().parent.parent / "fmnist" / "assets"
MANIFEST_OF_OTHERS = {"written_by": "fmnist", "about": "", "files": {"model.onnx": "0" * 64}}


def a_run(tmp_path: Path) -> Path:
    """A run folder whose model.keras is never read: the refusals below come before export builds anything."""
    run = tmp_path / "run"
    run.mkdir()
    keras_file(run / "model.keras")  # a zip as Keras writes one, whose weights are not even HDF5: never loaded
    return run


def refused_export(run: Path, out: Path, names: str) -> None:
    before = snapshot(out)
    err = one_error_line(runner.invoke(app, ["export", str(run), "--int8", "--out", str(out)]), 2)
    assert f"holds {names}, which fmnist did not write" in err and "nothing was written" in err
    assert snapshot(out) == before


@pytest.mark.parametrize("manifest", [True, False])
def test_export_refuses_fmnist_s_shipped_model_copied_in_with_or_without_a_manifest(tmp_path, manifest):
    """It carries fmnist's metadata, but no export of this run made it: it replaced it, exit 0 (E1, and the copy of
    edge.onnx in a folder with no manifest yet)."""
    out = tmp_path / "out"
    out.mkdir()
    if manifest:  # an earlier export that wrote model.onnx only
        (out / MANIFEST).write_text(json.dumps(MANIFEST_OF_OTHERS))
    shutil.copy(ASSETS / "edge.int8.onnx", out / "model.int8.onnx")
    refused_export(a_run(tmp_path), out, "model.int8.onnx")


@pytest.mark.parametrize("manifest", [True, False])
@pytest.mark.parametrize("sha", ["x", "the run's"])
def test_export_refuses_your_model_beside_a_report_that_names_it(tmp_path, manifest, sha):
    """A 13-byte model.onnx beside a hand-written parity.json naming it was replaced (E2). A report counts as an
    earlier export's only if it names this run's model.keras and a file it judged is a model made from it."""
    run, out = a_run(tmp_path), tmp_path / "out"
    out.mkdir()
    if manifest:
        (out / MANIFEST).write_text(json.dumps({**MANIFEST_OF_OTHERS, "files": {}}))
    (out / "model.onnx").write_text("my own model\n")
    source = hashlib.sha256((run / "model.keras").read_bytes()).hexdigest() if sha == "the run's" else sha
    (out / "parity.json").write_text(json.dumps({"source_sha256": source, "files": [{"file": "model.onnx"}]}))
    refused_export(run, out, "model.onnx, parity.json")


def test_an_earlier_export_of_this_run_without_a_manifest_is_replaced_file_by_file(tmp_path):
    """What an export of the same model.keras wrote before manifests existed: its models (their metadata names the
    .keras file's sha256), the report naming them, a flips picture and the rejected copy of a file that failed."""
    from crafted import meta_text, model

    from fmnist.export.targets import ExportOptions
    from fmnist.export.written import export_folder

    run, out = a_run(tmp_path), tmp_path / "out"
    out.mkdir()
    sha = hashlib.sha256((run / "model.keras").read_bytes()).hexdigest()
    model(out / "model.onnx", meta_text(source_sha256=sha))
    rows = [{"file": "model.onnx", "passed": True}, {"file": "model.int8.onnx", "passed": False}]
    (out / "parity.json").write_text(json.dumps({"source_sha256": sha, "files": rows}))
    (out / "parity.md").write_text("# parity\n")
    (out / "flips-model.onnx.png").write_bytes(b"a picture")
    (out / "model.int8.rejected.onnx").write_bytes(b"a model that failed the gate, kept without metadata")
    opts = ExportOptions(int8=True, tflite=False)
    assert export_folder(out, opts, run / "model.keras").foreign(["model.onnx", "parity.json"]) == []
    (run / "model.keras").write_bytes(b"another model: the same folder is now another run's export")
    with pytest.raises(UsageError, match=r"holds model\.onnx, flips-model\.onnx\.png, model\.int8\.rejected\.onnx, "
                                         r"parity\.json, parity\.md, which fmnist did not write"):
        export_folder(out, opts, run / "model.keras")


@pytest.mark.slow
def test_a_run_re_exported_into_its_own_folder_with_or_without_its_manifest(exported_mlp, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exported_mlp, run)
    (run / MANIFEST).unlink()  # as fmnist 0.2.0 left it
    for flags in (["--int8", "--fp16"], ["--int8", "--no-tflite"]):  # without the manifest, then with the one the
        got = runner.invoke(app, ["export", str(run), *flags, *MLP_GATE])  # first wrote (its TFLite files kept)
        assert got.exit_code == 0, got.output
        assert "note:" not in got.stderr  # its own TFLite files, of this model: nothing to say
    assert {"model.onnx", "model.int8.onnx", "model.fp16.tflite", "parity.md"} <= set(
        json.loads((run / MANIFEST).read_text())["files"])


@pytest.mark.slow
def test_another_model_exported_into_a_folder_names_the_files_it_did_not_replace(exported_mlp, tiny_run, tmp_path):
    """The MLP's int8 and TFLite files stayed beside the edge model's model.onnx, and parity.json named only that."""
    out = tmp_path / "out"
    shutil.copytree(exported_mlp, out)
    left = sorted(p.name for p in out.iterdir() if p.suffix in (".onnx", ".tflite") and p.name != "model.onnx")
    got = runner.invoke(app, ["export", str(tiny_run[0] / "model.keras"), "--no-tflite", "--out", str(out),
                              "--min-agree", "0.5", "--max-drop", "50"])
    assert got.exit_code == 0, got.output
    assert f"note: {out} also holds {', '.join(left)}, exported earlier from another model: this export did not " \
           "replace them, and parity.json does not list them" in got.stderr, got.stderr
    assert all((out / name).is_file() for name in left) and len(left) == 4  # named, never removed


@pytest.mark.slow
def test_export_replaces_its_own_files_and_refuses_one_you_edited(exported_mlp, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exported_mlp, run)
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
def test_export_replaces_an_earlier_export_made_before_the_manifest(exported_mlp, tmp_path):
    out = tmp_path / "earlier"
    out.mkdir()
    for name in ("model.onnx", "model.int8.onnx", "parity.json", "parity.md"):  # no manifest: an older export
        shutil.copy(exported_mlp / name, out / name)
    got = runner.invoke(app, ["export", str(exported_mlp), "--no-tflite", "--out", str(out)])
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


def test_a_recorded_file_swapped_for_a_pipe_after_its_check_is_not_ours_and_is_not_waited_on(tmp_path, monkeypatch):
    """The name is looked at (lstat), then hashed: a pipe put there in between is no match, read without waiting
    for a writer (opening it for reading would block for ever)."""
    import threading

    folder = OwnedFolder(tmp_path, "--out")
    folder.write_json("a.json", {"n": 1})
    regular = os.lstat(tmp_path / "a.json")
    (tmp_path / "a.json").unlink()
    os.mkfifo(tmp_path / "a.json")
    monkeypatch.setattr("fmnist.core.owned.os.lstat", lambda path: regular)  # as it was when looked at
    said: list[bool] = []
    check = threading.Thread(target=lambda: said.append(folder.is_ours("a.json")), daemon=True)
    check.start()
    check.join(10)
    assert said == [False]


# --- train --out, train-own --out ---------------------------------------------------------------------------------

def test_train_refuses_a_run_folder_holding_a_file_of_yours_before_it_trains(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "history.json").write_text('{"my": "own history"}')
    (out / "confusion.png").write_bytes(b"my own picture")
    before = snapshot(out)
    err = one_error_line(runner.invoke(app, ["train", "--model", "mlp", "--epochs", "1", "--out", str(out)]), 2)
    assert "holds history.json, confusion.png, which fmnist did not write" in err
    assert snapshot(out) == before  # nothing trained, nothing written (a run writes model.keras first)


def test_train_own_refuses_a_file_of_yours_in_its_run_folder_before_it_loads_tensorflow(tmp_path):
    """In a process of its own, so that TensorFlow is not loaded already: the refusal costs no import (seconds)."""
    photos = make_tree(tmp_path / "photos", per_class=2, classes=("hat", "pants"))
    out = tmp_path / "run"
    out.mkdir()
    (out / "own_data.npz").write_bytes(b"my own arrays")
    before = snapshot(out)
    outcome, err = run_fresh("train-own", str(photos), "--out", str(out))
    assert outcome == "2 False", err
    assert err.count("\n") == 1 and "holds own_data.npz, which fmnist did not write" in err
    assert snapshot(out) == before


@pytest.mark.parametrize("under", ["run", "sub/run"])
def test_train_refuses_a_run_folder_under_a_file_before_it_loads_tensorflow(tmp_path, under):
    """`--out afile/run`: the folder cannot be made; refused before the training, not by a traceback when its first
    file is written (`--out afile` itself is refused by the option's own check)."""
    mine = tmp_path / "afile"
    mine.write_bytes(b"my own file")
    outcome, err = run_fresh("train", "--model", "mlp", "--epochs", "1", "--out", str(mine / under))
    assert outcome == "2 False", err
    assert err.count("\n") == 1 and f"{mine} is not a folder; nothing was written" in err
    assert mine.read_bytes() == b"my own file" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("name, why", [("a" * 300, "file name too long"),
                                       ("loop", "too many levels of symbolic links")])
def test_an_out_folder_that_cannot_be_told_is_one_error_line(tmp_path, name, why):
    (tmp_path / "loop").symlink_to("loop")
    err = one_error_line(runner.invoke(app, ["export", str(a_run(tmp_path)), "--out", str(tmp_path / name / "x")]), 2)
    assert f": {why}; nothing was written" in err


def test_export_refuses_an_out_folder_under_a_file(tmp_path):
    mine = tmp_path / "afile"
    mine.write_bytes(b"my own file")
    err = one_error_line(runner.invoke(app, ["export", str(a_run(tmp_path)), "--out", str(mine / "exported")]), 2)
    assert f"{mine} is not a folder; nothing was written" in err and mine.read_bytes() == b"my own file"


KERAS = "3.15.1"


def run_card(created: str = "2026-11-29T10:00:00+00:00") -> str:
    return json.dumps({"model": "mlp", "versions": {"fmnist": "0.2.0", "keras": KERAS}, "created": created})


def keras_file(path: Path, version: str = KERAS) -> None:
    """A .keras file as Keras saves one: its config, weights (an HDF5 file with no dataset) and metadata."""
    weights = io.BytesIO()
    with h5py.File(weights, "w"):
        pass
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": version, "date_saved": "2026-11-29@10:00:00"}))
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", weights.getvalue())


def plot(path: Path, software: str = "Matplotlib version3.11.2, https://matplotlib.org/") -> None:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", software)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)


def earlier_run(folder: Path) -> Path:
    """A run folder as an fmnist run wrote it before the manifest existed."""
    folder.mkdir()
    (folder / "metrics.json").write_text(run_card())
    keras_file(folder / "model.keras")
    (folder / "history.json").write_text(json.dumps({"loss": [0.9, 0.5], "accuracy": [0.7, 0.8]}))
    for name in ("curves.png", "confusion.png"):
        plot(folder / name)
    with zipfile.ZipFile(folder / "own_data.npz", "w") as archive:
        archive.writestr("heldout_images.npy", b"")
    return folder


def test_an_earlier_run_folder_without_a_manifest_is_reused_file_by_file(tmp_path):
    from fmnist.train.run_folder import run_folder

    run_folder(earlier_run(tmp_path / "earlier"), ["confusion.png", "own_data.npz"])  # accepted, nothing written
    with_manifest = earlier_run(tmp_path / "with-manifest")  # a manifest that does not list them: the old rule
    (with_manifest / MANIFEST).write_text(json.dumps({"written_by": "fmnist", "about": "", "files": {}}))  # is off
    with pytest.raises(UsageError, match=r"holds model\.keras, history\.json, metrics\.json, curves\.png, "
                                         r"confusion\.png, which fmnist did not write"):
        run_folder(with_manifest, ["confusion.png"])


@pytest.mark.parametrize("yours, names", [
    ({"model.keras": b"my own model", "history.json": b'{"my": "own history"}', "curves.png": b"\x89PNG\r\n\x1a\n"},
     "model.keras, history.json, curves.png"),
    ({"own_data.npz": b"my own arrays"}, "own_data.npz"),
    ({"model.keras": "another Keras"}, "model.keras"),  # a model saved by Keras 3.0.0, not the card's
    ({"curves.png": "another drawing tool"}, "curves.png"),
    ({"history.json": "two days before the card"}, "history.json"),
])
def test_a_run_card_alone_does_not_make_your_files_beside_it_replaceable(tmp_path, yours, names):
    """A metrics.json that claims fmnist's version made every run name replaceable: each file must hold what a run
    writes under its name, written with its card."""
    from fmnist.train.run_folder import run_folder

    folder = earlier_run(tmp_path / "run")
    for name, mine in yours.items():
        if mine == "another Keras":
            keras_file(folder / name, "3.0.0")
        elif mine == "another drawing tool":
            plot(folder / name, "GIMP 2.10")
        elif mine == "two days before the card":
            os.utime(folder / name, (time.time() - 2 * 86400,) * 2)
        else:
            (folder / name).write_bytes(mine)
    before = snapshot(folder)
    with pytest.raises(UsageError, match=rf"holds {re.escape(names)}, which fmnist did not write"):
        run_folder(folder, ["confusion.png", "own_data.npz"])
    assert snapshot(folder) == before


def test_a_run_folder_whose_card_is_not_fmnist_s_is_refused(tmp_path):
    from fmnist.train.run_folder import run_folder

    yours = tmp_path / "yours"
    yours.mkdir()
    (yours / "metrics.json").write_text(json.dumps({"accuracy": 0.9}))  # someone's metrics, not a run card
    with pytest.raises(UsageError, match=r"holds metrics\.json, which fmnist did not write"):
        run_folder(yours)
    (yours / "metrics.json").write_text(json.dumps({"model": "edge", "versions": {"fmnist": "0.9.0"}}))
    with pytest.raises(UsageError, match=r"holds metrics\.json, which fmnist did not write"):  # no Keras, no time
        run_folder(yours)


def test_a_run_folder_names_only_the_plain_export_files_its_manifest_lists_unchanged(tmp_path):
    """What a re-trained run warns of: export's kinds of file, directly in the folder, that the manifest lists and
    nobody changed. A manifest naming a file outside the folder (edited by hand, or by a hostile tool), a dataset
    `data fetch --dest` recorded there, or a file changed since, is not named; nothing is ever removed."""
    from fmnist.core.formats import is_export_output

    run, outside = tmp_path / "run", tmp_path / "victim.onnx"
    owned = OwnedFolder(run, "--out")
    for name in ("model.int8.onnx", "model.tflite", "parity.md", "flips-model.int8.onnx.png",
                 "train-images-idx3-ubyte.gz"):
        owned.write_bytes(name, name.encode())
    outside.write_text("not the run's")
    (run / "sub").mkdir()
    (run / "sub" / "x.onnx").write_text("a file in a folder")
    record = json.loads((run / MANIFEST).read_text())
    for name, path in (("../victim.onnx", outside), (str(outside), outside), ("sub/x.onnx", run / "sub" / "x.onnx")):
        record["files"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
    record["files"]["a\0.onnx"] = record["files"]["a\ud800.onnx"] = "0" * 64  # names no file system takes
    empty = hashlib.sha256(b"").hexdigest()
    os.mkfifo(run / "pipe.onnx")  # a FIFO under a recorded name, its digest an empty file's: never read as one
    (run / "link.onnx").symlink_to(run / "model.tflite")  # a link to a file with the recorded content: not followed
    record["files"].update({"pipe.onnx": empty, "link.onnx": hashlib.sha256(b"model.tflite").hexdigest()})
    (run / MANIFEST).write_text(json.dumps(record))
    (run / "parity.md").write_text("with my notes")  # changed since: the user's now
    before = sorted(p.name for p in run.iterdir())
    named = OwnedFolder(run, "--out").recorded(is_export_output)
    assert named == ["flips-model.int8.onnx.png", "model.int8.onnx", "model.tflite"]
    assert sorted(p.name for p in run.iterdir()) == before and outside.exists()


@pytest.mark.slow
def test_a_run_re_trained_into_its_own_folder_with_or_without_its_manifest(tiny_reruns: Reruns):
    """conftest's tiny run trained again into a copy of its folder without the manifest (as fmnist 0.2.0 left it),
    then again with the manifest the first wrote: both succeed (conftest asserts exit 0) and replace the files. The
    second names the export the first left (made from the model it replaces, which would be used unawares) and
    leaves it, as it leaves a recorded file the user changed and a file of the user's."""
    out = tiny_reruns.folder
    assert json.loads((tiny_reruns.same_seed / "metrics.json").read_text())["config"]["seed"] == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["seed"] == 1  # the second run's files
    assert (out / "model.onnx").read_bytes() == b"an export of the first model"  # named, never removed
    assert "still holds what an earlier export wrote there: model.onnx; made from an earlier model, it no longer " \
        "matches model.keras: remove it, then run fmnist export on this folder again" in tiny_reruns.said
    assert "parity.md" not in tiny_reruns.said
    assert (out / "parity.md").read_text() == "parity, with my notes" and (out / "notes.txt").read_text() == "mine"
    recorded = set(json.loads((out / MANIFEST).read_text())["files"])
    assert recorded == {p.name for p in out.iterdir()} - {MANIFEST, "notes.txt"}


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


@pytest.mark.slow
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
