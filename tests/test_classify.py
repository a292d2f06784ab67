"""fmnist classify: the CLI, bad inputs in a batch, the TensorFlow-free wall, and a runtime-only install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from fmnist.cli import app

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "examples" / "photos"
HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib")
runner = CliRunner()


@pytest.fixture
def mixed(tmp_path) -> Path:
    """A folder with two good photos, an empty file, random bytes named .jpg, a truncated JPEG and a text file."""
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(PHOTOS / "pants.jpg", folder / "a-pants.jpg")
    shutil.copy(PHOTOS / "outwear.jpg", folder / "sub" / "b-outwear.jpg")
    (folder / "c-empty.jpg").write_bytes(b"")
    (folder / "d-random.jpg").write_bytes(os.urandom(2000))
    (folder / "e-truncated.jpg").write_bytes((PHOTOS / "dress.jpg").read_bytes()[:1500])
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    return folder


def test_json_lines_for_good_and_bad_inputs(mixed):
    got = runner.invoke(app, ["classify", str(mixed), "--json", "--top", "2"])
    assert got.exit_code == 1
    lines = [json.loads(line) for line in got.stdout.splitlines()]
    by_name = {Path(line["input"]).name: line for line in lines}
    assert sorted(by_name) == ["a-pants.jpg", "b-outwear.jpg", "c-empty.jpg", "d-random.jpg", "e-truncated.jpg"]
    good = by_name["a-pants.jpg"]
    assert set(good) >= {"input", "label", "index", "score", "top", "ms"} and len(good["top"]) == 2
    assert good["top"][0] == {"label": good["label"], "index": good["index"], "score": good["score"]}
    assert by_name["c-empty.jpg"]["error"].endswith("empty file")
    assert "not an image" in by_name["d-random.jpg"]["error"] and "not an image" in by_name["e-truncated.jpg"]["error"]
    assert got.stderr.strip() == "error: 3 of 5 inputs could not be classified (their JSON lines say why)"


def test_human_lines_globs_and_annotated_copies(mixed, tmp_path):
    out = tmp_path / "annotated"
    got = runner.invoke(app, ["classify", str(mixed / "*.jpg"), str(mixed / "sub"), "--save", str(out)])
    assert got.exit_code == 1
    lines = got.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{mixed / 'a-pants.jpg'}: ") and lines[0].endswith(" ms]")
    assert got.stderr.count("skipped ") == 3
    saved = sorted(p.name for p in out.iterdir())
    assert saved == ["a-pants.jpg", "b-outwear.jpg"]
    photo, annotated = cv2.imread(str(mixed / "a-pants.jpg")), cv2.imread(str(out / "a-pants.jpg"))
    assert annotated.shape == photo.shape
    assert (annotated[0, -1] >= 240).all()  # the inset's white frame in the top-right corner (saved as JPEG)


def test_missing_input_and_empty_folder(tmp_path):
    got = runner.invoke(app, ["classify", str(tmp_path / "nope.jpg")])
    assert got.exit_code == 1 and "cannot read (No such file or directory)" in got.stderr
    got = runner.invoke(app, ["classify", str(tmp_path)])
    assert got.exit_code == 1 and got.stderr.startswith("error: no images found in")
    got = runner.invoke(app, ["classify", str(PHOTOS / "dress.jpg"), str(tmp_path / "shots" / "**" / "*.png")])
    assert got.exit_code == 1 and f"skipped {tmp_path}/shots/**/*.png: the pattern matches no image" in got.stderr
    assert "1 of 2 inputs could not be classified" in got.stderr


def test_a_folder_walked_skips_hidden_files_and_folders_and_a_hidden_file_named_is_read(tmp_path):
    """A folder copied from a Mac holds ._NAME.jpg files (not images), a tool's cache a hidden folder: neither is a
    photo the user asked about, as a glob's * skips them too."""
    shutil.copy(PHOTOS / "pants.jpg", tmp_path / "pants.jpg")
    (tmp_path / "._pants.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / ".thumbs").mkdir()
    shutil.copy(PHOTOS / "dress.jpg", tmp_path / ".thumbs" / "dress.jpg")
    for given in ([str(tmp_path)], [str(tmp_path.parent / f"{tmp_path.name}*")]):  # the folder, or a glob's
        got = runner.invoke(app, ["classify", *given, "--json"])
        assert got.exit_code == 0, got.output
        assert [Path(json.loads(line)["input"]).name for line in got.stdout.splitlines()] == ["pants.jpg"]
    got = runner.invoke(app, ["classify", str(tmp_path / ".thumbs" / "dress.jpg"), "--json"])
    assert got.exit_code == 0 and json.loads(got.stdout)["label"] == "Dress"


def test_a_uri_without_ray_is_refused_before_anything_is_read(tmp_path, monkeypatch):
    got = runner.invoke(app, ["classify", str(PHOTOS / "pants.jpg"), "s3://shop/photos"])
    assert got.exit_code == 2 and got.stdout == ""
    assert got.stderr.startswith("error: s3://shop/photos is a URI: classify reads this machine's files, folders "
                                 "and globs, and with --ray the URIs pyarrow reads")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ab:" / "[cd]").mkdir(parents=True)  # a local file whose name reads as a URI is read
    shutil.copy(PHOTOS / "pants.jpg", tmp_path / "ab:" / "[cd]" / "p.jpg")
    got = runner.invoke(app, ["classify", "ab://[cd]/p.jpg", "--json"])
    assert got.exit_code == 0 and json.loads(got.stdout)["label"] == "Trouser"
    got = runner.invoke(app, ["classify", "ab://[cd/p.jpg"])  # urlsplit raises on it: no traceback here
    assert got.exit_code == 2 and got.stderr.startswith("error: ab://[cd/p.jpg is a URI")


def test_raw_mode_classifies_dataset_images(tmp_path):
    from fmnist.data import fashion
    from fmnist.runtime.classifier import Classifier

    test = fashion.load_split("test")
    for i in range(20):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), test.images[i])
    got = runner.invoke(app, ["classify", str(tmp_path), "--raw", "--model", "edge", "--json"])
    assert got.exit_code == 0, got.output
    predicted = [json.loads(line)["index"] for line in got.stdout.splitlines()]
    assert predicted == Classifier("edge").predict(test.images[:20]).argmax(1).tolist()


@pytest.mark.slow
def test_classify_and_info_import_no_tensorflow():
    code = (
        "import sys\nfrom fmnist.cli import main\n"
        f"for argv in (['classify', {str(PHOTOS / 'pants.jpg')!r}], ['info', '--json', "
        "__import__('fmnist.runtime.classifier').runtime.classifier.default_model().as_posix()]):\n"
        "    sys.argv = ['fmnist', *argv]\n"
        "    try:\n        main()\n    except SystemExit as e:\n        assert not e.code, e.code\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_shipped_model_is_named_and_any_other_name_is_a_clear_error():
    from fmnist.runtime.shipped import SHIPPED

    photo = PHOTOS / "pants.jpg"
    by_name = runner.invoke(app, ["classify", str(photo), "--model", "edge", "--json"])
    by_path = runner.invoke(app, ["classify", str(photo), "--model", str(SHIPPED["edge"].path), "--json"])
    assert by_name.exit_code == by_path.exit_code == 0
    assert json.loads(by_name.stdout)["top"] == json.loads(by_path.stdout)["top"]
    got = runner.invoke(app, ["classify", str(photo), "--model", "nosuch"])
    assert got.exit_code == 4 and "no shipped model of that name (shipped: photo, edge)" in got.stderr


def test_info_alone_names_both_shipped_models_the_default_first():
    got = runner.invoke(app, ["info"])
    assert got.exit_code == 0, got.output
    names = [line.split(":")[0] for line in got.stdout.splitlines() if not line.startswith(" ")]
    assert names == ["photo (default)", "edge"] and "strict" in got.stdout and "% lenient" in got.stdout
    rows = json.loads(runner.invoke(app, ["info", "--json"]).stdout)
    assert [(r["name"], r["default"]) for r in rows] == [("photo", True), ("edge", False)]
    assert rows[0]["photos_lenient"] > rows[1]["photos_lenient"] and all(r["size_kb"] > 100 for r in rows)


def test_info_alone_lists_a_missing_shipped_model_as_such_and_exits_4(monkeypatch):
    from fmnist.runtime.shipped import SHIPPED, Shipped

    monkeypatch.setitem(SHIPPED, "ghost", Shipped("ghost", "ghost.int8.onnx", "a model the install lost"))
    got = runner.invoke(app, ["info"])
    assert got.exit_code == 4 and "Traceback" not in got.output
    assert "photo (default):" in got.stdout and "edge:" in got.stdout
    assert "ghost: a model the install lost" in got.stdout
    assert got.stderr.startswith("error: shipped model(s) ghost missing or unreadable")


@pytest.mark.parametrize("args", [["evaluate"], ["info"], ["classify", str(PHOTOS / "pants.jpg")],
                                  ["bench", "--rounds", "1"]])
@pytest.mark.parametrize("name", ["x" * 300 + ".onnx", "x" * 300])
def test_a_model_name_too_long_for_the_file_system_is_one_error_line(args, name):
    """A 300-character file name (over the system's 255) was an OSError traceback from the check for a file; now a
    missing model (exit 4), or for bench a missing file (exit 2)."""
    got = runner.invoke(app, [*args, "--model", name])
    assert got.exit_code in (2, 4) and "Traceback" not in got.output, got.output
    assert got.stderr.startswith("error: ") and got.stderr.count("\n") == 1, got.stderr


def test_a_run_folder_given_as_the_model_names_the_file_to_pass(tmp_path):
    from fmnist.runtime.shipped import resolve

    def error(folder: Path) -> str:
        got = runner.invoke(app, ["classify", str(PHOTOS / "dress.jpg"), "--model", str(folder)])
        assert got.exit_code == 4
        return got.stderr.strip()

    run = tmp_path / "my run"
    run.mkdir()
    assert error(run) == f"error: --model {run} is a folder, with no model file in it; name a model file"
    (run / "model.keras").write_bytes(b"")  # trained, not exported
    shutil.copy(resolve("edge"), run / "model.int8.rejected.onnx")  # what a failed gate keeps: never suggested
    assert error(run) == f"error: --model {run} is a folder; name a model file (it holds model.keras, " \
                         "model.int8.rejected.onnx)"
    shutil.copy(resolve("edge"), run / "model.onnx")
    (run / ".model.int8.k3j_9x.tmp.onnx").write_bytes(b"")  # an unfinished write: hidden, left out
    assert error(run) == f"error: --model {run} is a folder; name a model file in it, e.g. --model " \
                         f"'{run}/model.onnx' (it holds model.onnx, model.keras, model.int8.rejected.onnx)"
