"""fmnist classify: the CLI, bad inputs in a batch, the TensorFlow-free wall, and a runtime-only install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
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
    assert got.stderr.strip() == "error: 3 of 5 inputs could not be classified (listed above)"


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
    assert (annotated[0, -1] == 255).all()  # the inset's white frame in the top-right corner


def test_missing_input_and_empty_folder(tmp_path):
    got = runner.invoke(app, ["classify", str(tmp_path / "nope.jpg")])
    assert got.exit_code == 1 and "cannot read (No such file or directory)" in got.stderr
    got = runner.invoke(app, ["classify", str(tmp_path)])
    assert got.exit_code == 1 and got.stderr.startswith("error: no images found in")


def test_raw_mode_classifies_dataset_images(tmp_path):
    from fmnist.data import fashion
    from fmnist.runtime.classifier import Classifier

    test = fashion.load_split("test")
    for i in range(20):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), test.images[i])
    got = runner.invoke(app, ["classify", str(tmp_path), "--raw", "--json"])
    assert got.exit_code == 0, got.output
    predicted = [json.loads(line)["index"] for line in got.stdout.splitlines()]
    assert predicted == Classifier().predict(test.images[:20]).argmax(1).tolist()


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


@pytest.mark.xdist_group("builds-the-wheel")  # pip builds in the source tree: one at a time
@pytest.mark.slow
def test_base_install_alone_classifies_a_photo(tmp_path, exported_cnn):
    """pip install . (no extras) into a fresh venv: numpy, onnxruntime, OpenCV and typer only. It classifies,
    and fmnist bench skips the .tflite rows it has no runtime for, with a note."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(ROOT)], check=True, cwd=tmp_path,
                   capture_output=True)
    names = subprocess.run([python, "-m", "pip", "list", "--format", "freeze"], capture_output=True, text=True,
                           check=True).stdout.lower()
    assert "tensorflow" not in names and "onnx==" not in names and "matplotlib" not in names
    got = subprocess.run([env_dir / "bin" / "fmnist", "classify", str(PHOTOS / "pants.jpg"), "--json"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    from fmnist.runtime.classifier import Classifier
    from fmnist.runtime.preprocess import read_image

    expected = Classifier().classify(read_image(PHOTOS / "pants.jpg")).best  # this checkout, full install
    result = json.loads(got.stdout)
    assert result["label"] == expected.label and result["score"] == pytest.approx(expected.score, abs=1e-3)

    from fmnist.data import fashion
    from scripts.product_video import write_video

    write_video(tmp_path / "clip.mp4", fashion.load_split("test").images[:3], hold=5, blank=2)
    live = subprocess.run([env_dir / "bin" / "fmnist", "live", "--source", str(tmp_path / "clip.mp4"), "--json"],
                          capture_output=True, text=True, cwd=tmp_path)  # no --no-display: no screen is found
    assert live.returncode == 0, live.stderr
    assert len(live.stdout.splitlines()) == 17 and "17 frames in" in live.stderr and "headless" in live.stderr

    bench = subprocess.run([env_dir / "bin" / "fmnist", "bench", str(exported_cnn / "model.int8.onnx"),
                            str(exported_cnn / "model.int8.tflite"), "--threads", "1", "--iterations", "20", "--json"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr
    report = json.loads(bench.stdout)
    assert [Path(r["model"]).name for r in report["rows"]] == ["model.int8.onnx"]
    assert report["skipped"] == [{"model": str(exported_cnn / "model.int8.tflite"),
                                  "note": "skipped: needs ai_edge_litert (pip install ai-edge-litert)"}]
