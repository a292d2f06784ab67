"""Preprocessing travels with the weights: an exported model records the version it was made for, and the runtime
refuses a model made for another one instead of giving wrong labels silently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.meta import read_meta
from fmnist.runtime.crop import CROP_VERSION
from fmnist.runtime.cutout import PREPROCESS_VERSION, preprocess_record
from fmnist.runtime.preparation import from_record
from fmnist.runtime.shipped import resolve

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "pants.jpg"
runner = CliRunner()
EDGE = resolve("edge")  # the cut-out's shipped model


def shipped_copy(folder: Path, preprocess: dict) -> Path:
    """The shipped edge model with its metadata's preprocessing record replaced (the weights untouched)."""
    from fmnist.export.embed import embed_onnx

    path = folder / "model.onnx"
    shutil.copy(EDGE, path)
    meta = read_meta(path)
    assert meta is not None
    meta.preprocess = preprocess
    path.write_bytes(embed_onnx(path, meta))
    return path


def test_the_shipped_models_record_todays_preprocessing():
    for model in (EDGE, EDGE.with_name("edge.onnx")):
        meta = read_meta(model)
        assert meta is not None and meta.preprocess == preprocess_record()
    photo = read_meta(resolve("photo"))
    assert photo is not None and photo.preprocess["version"] == CROP_VERSION
    assert from_record(photo.preprocess, "photo").record() == photo.preprocess


def test_a_model_made_for_another_preprocessing_is_refused_in_one_line(tmp_path):
    other = str(int(PREPROCESS_VERSION) + 1)
    model = shipped_copy(tmp_path, {**preprocess_record(), "version": other})
    for command in (["classify", str(PHOTO)], ["live", "--source", str(tmp_path / "none.mp4"), "--no-display"]):
        got = runner.invoke(app, [*command, "--model", str(model)])
        assert got.exit_code == 4, got.output
        assert got.stderr.count("\n") == 1 and "Traceback" not in got.output
        assert f"preprocessing version {other}" in got.stderr and f"with version {PREPROCESS_VERSION}" in got.stderr


def test_a_model_without_a_record_runs_as_todays_and_says_so_once(tmp_path):
    model = shipped_copy(tmp_path, {})
    got = runner.invoke(app, ["classify", str(PHOTO), str(PHOTO), "--model", str(model), "--json"])
    assert got.exit_code == 0, got.output
    assert got.stderr.count("records no preprocessing version") == 1
    assert f"assuming today's, version {PREPROCESS_VERSION}" in got.stderr
    shipped = runner.invoke(app, ["classify", str(PHOTO), "--model", "edge", "--json"])
    labels = [json.loads(line)["label"] for line in got.stdout.splitlines()]
    assert labels == [json.loads(shipped.stdout)["label"]] * 2 and "preprocessing" not in shipped.stderr


def test_info_prints_the_preprocessing_record(tmp_path):
    got = runner.invoke(app, ["info", "--model", "edge"])
    assert f"preprocessing: version {PREPROCESS_VERSION} (" in got.stdout
    raw = runner.invoke(app, ["info", "--model", "edge", "--json"])
    assert json.loads(raw.stdout)["preprocess"]["version"] == PREPROCESS_VERSION
    old = runner.invoke(app, ["info", "--model", str(shipped_copy(tmp_path, {}))])
    assert "preprocessing: not recorded" in old.stdout


@pytest.mark.parametrize("version", ["1", "3"])
def test_evaluate_on_photos_refuses_another_preprocessing(tmp_path, version):
    model = shipped_copy(tmp_path, {"version": version})
    photos = tmp_path / "photos" / "pants"
    photos.mkdir(parents=True)
    shutil.copy(PHOTO, photos)
    got = runner.invoke(app, ["evaluate", "--model", str(model), "--photos", str(photos.parent)])
    assert got.exit_code == 4 and f"preprocessing version {version}" in got.stderr
