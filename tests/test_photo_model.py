"""The photo model's recipe (`fmnist train --model photo`): Fashion-MNIST rendered as photos and real photos
through the photo map, judged on both domains. A tiny run checks the mechanics; the shipped model's figures
are measured (docs/model.md) and checked in tests/test_shipped_photos.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from photo_tree import make_tree
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.data import fashion
from fmnist.evaluation import testset
from fmnist.evaluation.render import RENDER, render, render_varied
from fmnist.evaluation.testset import FMNIST_RENDERED, RENDERED_TEST

runner = CliRunner()


def test_rendering_writes_the_garment_dark_on_light_at_the_model_s_side():
    images = fashion.load_split("test").images[:4]
    plain = render(images, 64)
    assert plain.shape == (4, 64, 64, 3) and plain.dtype == np.uint8
    assert (plain[:, 0, 0] == 255).all()  # the black ground of Fashion-MNIST is the white ground of a photo
    grey = plain[..., 0].astype(int)
    assert np.array_equal(grey, plain[..., 2])  # grey: B = G = R
    varied = render_varied(images, 64, seed=0)
    assert varied.shape == plain.shape and not np.array_equal(varied, plain)
    assert np.array_equal(varied, render_varied(images, 64, seed=0))  # a seed gives the same training images


def assert_fine_tuned_after(model_path: Path, size: int, boundary: str) -> None:
    """The run learned what its record says: every convolution after `boundary` (block K's output, "blocks.K.add")
    and the head moved from Lite0's ImageNet weights, the stem and every convolution up to block K kept them, and K
    leaves blocks on both sides."""
    from fmnist.core.tf import keras
    from fmnist.train.backbones import lite0

    model, imagenet = keras.models.load_model(model_path, compile=False), lite0.build(size)
    last = int(boundary.split(".")[1])
    convs = [layer.name for layer in imagenet.layers if layer.name.endswith("conv")]
    blocks = {int(name.split(".")[1]) for name in convs if name.startswith("blocks.")}
    assert boundary == f"blocks.{last}.add" and min(blocks) < last < max(blocks), boundary

    def learned(layer: str) -> bool:
        return not np.array_equal(model.get_layer(layer).get_weights()[0], imagenet.get_layer(layer).get_weights()[0])

    after = {name: name == "conv_head" or (name.startswith("blocks.") and int(name.split(".")[1]) > last)
             for name in convs}
    assert {name: learned(name) for name in convs} == after


@pytest.mark.slow
def test_a_tiny_photo_model_trains_exports_and_is_judged_on_both_domains(tmp_path):
    photos, held = make_tree(tmp_path / "train", per_class=4), make_tree(tmp_path / "val", per_class=3)
    run = tmp_path / "run"
    got = runner.invoke(app, ["train", "--model", "photo", "--photos", str(photos), "--photos-val", str(held),
                              "--size", "32", "--limit", "50", "--epochs", "1", "--out", str(run)])
    assert got.exit_code == 0, got.output
    assert "on the Fashion-MNIST test images rendered as photos" in got.stdout and "unsure on" in got.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["recipe"]["render"] == RENDER and metrics["preprocess"]["kind"] == "crop"
    assert metrics["photos"]["n"] == 12 and 0 < metrics["decision"]["threshold"] < 1
    assert metrics["recipe"]["folders_balanced"]
    assert_fine_tuned_after(run / "model.keras", 32, metrics["recipe"]["fine_tuned_from"])
    test = testset.test_set_for(run / "model.keras")
    assert test.what == FMNIST_RENDERED and test.images.shape == (RENDERED_TEST, 32, 32, 3)
    assert test.calib is not None and test.calib.shape[1:] == (32, 32, 3)  # photos and rendered images, kept
    got = runner.invoke(app, ["export", str(run), "--int8", "--no-tflite", "--min-agree", "0.5", "--max-drop", "50"])
    assert got.exit_code == 0, got.output
    got = runner.invoke(app, ["evaluate", "--model", str(run / "model.int8.onnx"), "--photos", str(held), "--json"])
    assert got.exit_code == 0, got.output
    report = json.loads(got.stdout)
    assert report["n"] == RENDERED_TEST and "rendered as photos" in report["data"]
    assert report["photos"]["n"] == 12
