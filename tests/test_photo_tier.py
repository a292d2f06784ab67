"""The photo tier end to end at a tiny size: train-own --backbone lite0, export behind the parity gate on the
held-out photos, then classify, live, bench, evaluate, info and a bundle, each picking the model's preprocessing
(a colour centre crop, no segmentation) from its metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import PreprocessMismatch
from fmnist.core.meta import read_meta
from fmnist.export.embed import embed_onnx
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.crop import CentreCrop
from fmnist.runtime.preparation import CUTOUT, from_record
from fmnist.runtime.video.step import MARGIN, grown, guide_box
from tests.once import made_once
from tests.photo_tree import SHAPES, photo
from tests.qdq import conv_is_float
from tests.test_own_labels import deploys

runner = CliRunner()
SIZE = 64  # the smallest useful size: the tests are about the mechanics; the accuracy claims are measured


def colour_tree(root: Path, per_class: int) -> Path:
    """Photo folders where the class is the garment's shape and colour (what ImageNet features tell apart)."""
    colours = {"t-shirt": (40, 40, 200), "pants": (200, 80, 30), "longsleeve": (40, 160, 40), "hat": (30, 30, 30)}
    for c, kind in enumerate(SHAPES):
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            image = photo(kind, 100 * c + i)
            image[np.all(image < 100, axis=2)] = colours[kind]
            cv2.imwrite(str(root / kind / f"{i}.jpg"), image)
    return root


def _tier_run(root: Path) -> None:
    photos, run = colour_tree(root / "photos", 10), root / "run"
    got = runner.invoke(app, ["train-own", str(photos), "--backbone", "lite0", "--size", str(SIZE), "--epochs", "3",
                              "--holdout", "0.3", "--out", str(run)])
    assert got.exit_code == 0, got.output
    got = runner.invoke(app, ["export", str(run), "--int8", "--no-tflite", "--min-agree", "0.5", "--max-drop", "50"])
    assert got.exit_code == 0, got.output


@pytest.fixture(scope="session")
def tier_run(tmp_path_factory) -> tuple[Path, Path]:
    """A photo-tier run on 4 classes x 10 photos, exported to ONNX fp32 and int8: what the runtime and a Pi run.
    Made once per run (tests/once.py), read by the tests; session-wide, as conftest's order may put other modules'
    tests between these (a module's fixture would be made again). (Its TFLite files convert the same way as the
    28x28 models'; the measured run in docs/your-own-classes.md exports both: 20 s more here.)"""
    root = made_once(tmp_path_factory, "photo-tier", _tier_run)
    return root / "photos", root / "run"


@pytest.mark.slow
def test_a_photo_tier_run_records_its_tier_and_its_preprocessing(tier_run):
    _, run = tier_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == f"lite0 {SIZE}px + own head"
    recipe = metrics["own_labels"]
    assert recipe["backbone"] == "lite0" and recipe["size"] == SIZE and recipe["epochs"] == 3
    held_out = recipe["frozen_head_accuracy"] * recipe["n_heldout"]  # a share of the 12 held-out photos
    assert recipe["n_heldout"] == 12 and abs(held_out - round(held_out)) < 1e-3
    assert recipe["frozen_head_accuracy"] >= 0.5 and metrics["heldout_accuracy"] >= 0.5  # 4 classes: chance is 0.25
    assert from_record(metrics["preprocess"], run) == CentreCrop(SIZE, 127, 128)
    parity = json.loads((run / "parity.json").read_text())
    assert parity["passed"] and parity["data"] == "held-out photos" and len(parity["files"]) == 2
    assert parity["calibration"]["method"] == "percentile" and parity["calibration"]["activations"] == "uint8"
    assert parity["calibration"]["float_convs"] == 2  # the kind's default: Lite0's stem and first depthwise stay float
    kept = conv_is_float(run / "model.int8.onnx")
    assert kept[:2] == [True, True] and not any(kept[2:]) and len(kept) > 40
    for name in ("model.onnx", "model.int8.onnx"):
        meta = read_meta(run / name)
        assert meta is not None and meta.preprocess["kind"] == "crop" and meta.preprocess["size"] == SIZE
        assert meta.input["shape"] == [None, SIZE, SIZE, 3] and meta.input["colour"] == "RGB"
        assert onnx.load(str(run / name)).doc_string == (
            f"fmnist classifier of 4 own classes: hat, longsleeve, pants, t-shirt ({meta.precision}); input: colour "
            f"{SIZE}x{SIZE}, the centre square of the photo, RGB, x = (pixel - 127) / 128")


@pytest.mark.slow
def test_the_gate_judges_the_tier_on_its_held_out_photos(tier_run):
    """The gate's row for the int8 file is the harness's verdict on the held-out photos; a stricter bar refuses it."""
    from fmnist.evaluation.predictors import keras_predictor, load_keras, open_model
    from fmnist.evaluation.testset import test_set_for
    from fmnist.export.parity import compare, thresholds_for

    _, run = tier_run
    test = test_set_for(run / "model.keras")
    assert test.preparation == CentreCrop(SIZE, 127, 128) and test.images.shape[1:] == (SIZE, SIZE, 3)
    reference = keras_predictor(load_keras(run / "model.keras"))(test.inputs())
    probs = open_model(run / "model.int8.onnx")(test.inputs())
    recorded = next(f for f in json.loads((run / "parity.json").read_text())["files"] if f["file"] == "model.int8.onnx")
    row = compare("model.int8.onnx", "int8", reference, probs, test.labels, thresholds_for("int8", 0.5, 50), test.names)
    assert row.agreement == recorded["agreement"] and row.accuracy == recorded["accuracy"]
    strict = compare("model.int8.onnx", "int8", reference, probs, test.labels, thresholds_for("int8", 1.01), test.names)
    assert not strict.passed and "agreement" in " ".join(strict.failures)


@pytest.mark.slow
def test_the_runtime_picks_the_preprocessing_from_the_metadata(tier_run, tmp_path):
    photos, run = tier_run
    tier, shipped = Classifier(run / "model.int8.onnx"), Classifier("edge")
    assert tier.preparation == CentreCrop(SIZE, 127, 128) and shipped.preparation == CUTOUT
    sample = cv2.imread(str(photos / "pants" / "0.jpg"))
    assert tier.classify(sample).prepared.image.shape == (SIZE, SIZE, 3)  # colour, the centre square
    assert shipped.classify(sample).prepared.image.shape == (28, 28)
    info = runner.invoke(app, ["info", "--model", str(run / "model.int8.onnx")])
    assert info.exit_code == 0 and f"{SIZE}x{SIZE}" in info.output and "crop" in info.output
    # a file made for another crop version is refused with the one-line reason, as the cut-out's is
    proto = onnx.load(str(run / "model.onnx"))
    meta = read_meta(run / "model.onnx")
    assert meta is not None
    meta.preprocess = {**meta.preprocess, "version": "crop-0"}
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "old.onnx"))
    (tmp_path / "old.onnx").write_bytes(embed_onnx(tmp_path / "old.onnx", meta))
    with pytest.raises(PreprocessMismatch, match="preprocessing version crop-0"):
        Classifier(tmp_path / "old.onnx")


@pytest.mark.slow
def test_the_photo_tier_deploys_like_any_model(tier_run, tmp_path, checkout_wheel):
    photos, run = tier_run
    sample = photos / "hat" / "9.jpg"
    label = Classifier(run / "model.int8.onnx").classify(cv2.imread(str(sample))).best.label
    deploys(run / "model.int8.onnx", sample, label, tmp_path / "pi", 0.5, checkout_wheel)


@pytest.mark.slow
def test_live_runs_the_photo_tier_with_no_segmentation(tier_run, tmp_path):
    photos, run = tier_run
    video = tmp_path / "garments.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (320, 240))
    for kind in SHAPES:
        frame = cv2.resize(cv2.imread(str(photos / kind / "0.jpg")), (240, 240))
        for _ in range(10):
            writer.write(cv2.copyMakeBorder(frame, 0, 0, 40, 40, cv2.BORDER_REPLICATE))
    writer.release()
    got = runner.invoke(app, ["live", "--source", str(video), "--model", str(run / "model.int8.onnx"), "--no-display",
                              "--json"])
    assert got.exit_code == 0, got.output
    rows = [json.loads(line) for line in got.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 40
    region = grown(guide_box(320, 240, None), MARGIN, 320, 240)  # what live shows the model: the box and its margin
    tier, (x, y, w, h), frames = Classifier(run / "model.int8.onnx"), region, decoded(video)
    for start in range(0, 40, 10):  # each garment's frames decode alike (the video's first aside): take its last
        answer = tier.classify(frames[start + 9][y : y + h, x : x + w])  # classify's answer for that region
        said = [r["label"] for r in rows[start + 5 : start + 10]]  # smoothed over 5 frames, all of this garment
        assert said == [answer.best.label if answer.sure else "not sure"] * 5, (start, said, answer.top)
        assert rows[start + 9]["score"] == pytest.approx(answer.best.score, abs=1e-4)
    assert "segmented" not in got.output and "moving" not in got.output  # no GrabCut: nothing to count


def decoded(video: Path) -> list[np.ndarray]:
    """A video's frames, as live reads them (an MJPEG file as JPEG packets, each decoded by fmnist)."""
    from fmnist.runtime.video.sources import VideoSource

    source, frames = VideoSource(str(video)), []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.release()
    return frames


def test_a_preparation_turns_prepared_images_into_the_models_input():
    crop = CentreCrop(32, 127, 128)
    bgr = np.zeros((2, 32, 32, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in BGR
    x = crop.to_input(bgr)
    assert x.shape == (2, 32, 32, 3) and x.dtype == np.float32
    assert np.allclose(x[..., 0], 1.0) and np.allclose(x[..., 2], -127 / 128)  # RGB order, (p - 127) / 128
    grey = CUTOUT.to_input(np.full((1, 28, 28), 255, np.uint8))
    assert grey.shape == (1, 28, 28, 1) and np.allclose(grey, 1.0)
    with pytest.raises(ValueError, match=r"expected \(N, 32, 32, 3\)"):
        crop.to_input(np.zeros((1, 28, 28), np.uint8))
    # uint8 goes through a table of the 256 values: the same float32 numbers as the arithmetic on each pixel
    odd = CentreCrop(16, 123.68, 58.395)
    every = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)
    assert np.array_equal(odd.to_input(every), odd.to_input(every.astype(np.float32)))
    grey = np.resize(np.arange(256, dtype=np.uint8), (4, 28, 28))  # the cut-out's x / 255, every value
    assert np.array_equal(CUTOUT.to_input(grey), CUTOUT.to_input(grey.astype(np.float32)))


def test_the_centre_crop_takes_the_middle_square_of_any_photo():
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 100:200] = 255  # the middle square is white, the sides black
    prepared = CentreCrop(32, 127, 128).prepare(wide)
    assert prepared.box == (100, 0, 100, 100) and prepared.image.min() == 255
    tall = CentreCrop(32, 127, 128).prepare(np.zeros((4000, 30, 4), np.uint16))  # 16-bit with alpha, tall, thin
    assert tall.image.shape == (32, 32, 3) and tall.box == (0, 1985, 30, 30)


def test_a_record_of_an_unknown_kind_is_refused():
    with pytest.raises(PreprocessMismatch, match="kind 'sharpen'"):
        from_record({"version": "1", "kind": "sharpen"}, "m.onnx")


def test_train_own_refuses_options_of_the_other_tier(tmp_path):
    got = runner.invoke(app, ["train-own", str(tmp_path), "--size", "96"])
    assert got.exit_code == 2 and "--backbone lite0" in got.output
    got = runner.invoke(app, ["train-own", str(tmp_path), "--backbone", "lite0", "--size", "100"])
    assert got.exit_code == 2 and "multiple of 32" in got.output
    shutil.rmtree(tmp_path)


@pytest.mark.xdist_group("tensorflow")  # on the worker that has TensorFlow loaded (tests/test_augment.py)
def test_the_augmented_views_keep_the_normalised_range():
    """The views are augmented after normalisation; Keras' brightness and contrast layers clip to (0, 255) unless
    told the range, which once turned two thirds of the training views into garbage."""
    from fmnist.train.backbones import BACKBONES
    from fmnist.train.photo_tier import view_augmenter

    lite0 = BACKBONES["lite0"]
    lo, hi = -lite0.mean / lite0.std, (255 - lite0.mean) / lite0.std
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    x = CentreCrop(32, lite0.mean, lite0.std).to_input(images)
    views = np.asarray(view_augmenter(lo, hi, seed=0)(x, training=True))
    assert views.shape == x.shape and lo - 1e-6 <= views.min() < -0.5 and 0.5 < views.max() <= hi + 1e-6
    assert abs(float(views.mean() - x.mean())) < 0.1 and not np.allclose(views, x)


def test_histogram_calibration_takes_a_bounded_number_of_photos():
    """ORT's percentile calibration holds every activation of every image: the count shrinks as the size grows;
    min-max calibration, and every 28x28 set, take all."""
    from fmnist.export.quantize import calibration_count

    assert [calibration_count((300, s, s, 3), "percentile") for s in (128, 160, 224)] == [200, 128, 65]
    assert calibration_count((1000, 28, 28, 1), "percentile") == 1000 and calibration_count((50, 160, 160, 3),
                                                                                             "entropy") == 50
    assert calibration_count((300, 224, 224, 3), "minmax") == 300 and calibration_count((300, 900, 900, 3),
                                                                                         "percentile") == 16
