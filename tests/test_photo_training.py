"""Learning from photos: the loss that reads photo targets, a tiny `train --photos --photos-val` run,
and the "not sure" threshold travelling from metrics.json into the exported file and `classify`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from photo_tree import make_tree
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.meta import read_meta
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import load_photos
from fmnist.train.backbones import BACKBONES
from fmnist.train.draws import group_draws
from fmnist.train.photo_targets import fmnist_targets, mixed_arrays, photo_targets

# TensorFlow (photo_loss, photo_tier) is imported by the tests that use it, not when the file is collected: every
# pytest worker collects every file, and a TensorFlow import costs each about 5 s of CPU
TENSORFLOW = pytest.mark.xdist_group("tensorflow")  # the tests that import it share one worker
runner = CliRunner()


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def test_targets_soft_for_several_labels_uniform_for_none(tmp_path):
    photos = load_photos(make_tree(tmp_path / "p", per_class=2))
    targets = photo_targets(photos, PhotoMap.load())
    rows = {name: targets[photos.folder_index == i][0] for i, name in enumerate(photos.folders)}
    assert rows["pants"].tolist() == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]  # one label, a photo
    assert np.allclose(rows["longsleeve"][[2, 0, 6]], [0.5, 0.25, 0.25]) and rows["longsleeve"][10] == 1  # a set
    assert np.allclose(rows["hat"][:10], 0.1) and rows["hat"][10] == 0  # uniform: learn to be unsure


def test_training_reads_photos_through_the_runtime_preprocess(tmp_path, monkeypatch):
    from fmnist.runtime import cutout as prep
    from fmnist.runtime.image import read_image
    from fmnist.train.photo_data import load_photo_data

    seen = []
    real = prep.preprocess
    monkeypatch.setenv("FMNIST_CACHE", str(tmp_path / "cache"))  # an empty cache: every photo is prepared
    monkeypatch.setattr(prep, "preprocess", lambda image: seen.append(image.shape) or real(image))
    got = load_photo_data(make_tree(tmp_path / "p", per_class=3), progress=False)
    assert len(seen) == 12 and len(got.x) == 12
    first = real(read_image(got.set.paths[0])).image
    assert np.array_equal(got.x[0, :, :, 0], first.astype(np.float32) / 255)  # what the model is fed


@TENSORFLOW
def test_loss_is_cross_entropy_set_likelihood_or_uniform_by_row(tf):
    from fmnist.train.photo_loss import MAIN_PULL, make_loss

    probs = np.array([[0.7, 0.1, 0.2] + [0.0] * 7, [0.2, 0.1, 0.5] + [0.025] * 7, [0.1] * 10], np.float32)
    targets = np.stack([fmnist_targets(np.array([0]))[0], np.zeros(12, np.float32),
                        np.r_[np.full(10, 0.1, np.float32), 0.0, 1.0]])
    targets[1, [2, 0, 6]], targets[1, 10] = [0.5, 0.25, 0.25], 1.0
    got = make_loss()(tf.constant(targets), tf.constant(probs)).numpy()
    assert got[0] == pytest.approx(-np.log(0.7), rel=1e-5)  # one label: plain cross-entropy
    in_set = -np.log(0.2 + 0.5 + 0.025)  # any label of the set
    toward_main = -(0.5 * np.log(0.5) + 0.25 * np.log(0.2) + 0.25 * np.log(0.025))
    assert got[1] == pytest.approx((1 - MAIN_PULL) * in_set + MAIN_PULL * toward_main, rel=1e-5)
    assert got[2] == pytest.approx(-np.log(0.1), rel=1e-5)  # uniform probs are right for "none"
    smoothed = make_loss(0.1)(tf.constant(targets[:1]), tf.constant(np.full((1, 10), 0.1, np.float32))).numpy()
    assert smoothed[0] == pytest.approx(-np.log(0.1), rel=1e-5)


def test_balanced_draws_give_every_folder_the_same_weight():
    groups = np.array([0] * 100 + [1] * 10 + [2] * 30)
    assert np.bincount(groups[group_draws(groups, 600, True, 0)]).tolist() == [200, 200, 200]
    plain = group_draws(groups, 560, False, 0)  # 4 whole copies of each photo
    assert np.bincount(groups[plain]).tolist() == [400, 40, 120]


@TENSORFLOW
def test_the_tier_draws_each_folder_s_views_equally_often_and_keeps_the_rows_seen_once(tf):
    from fmnist.train.photo_tier import balanced_rows

    groups = np.array([0] * 30 + [1] * 6)  # 3 views: rows 0-107, then 5 rows seen once: 108-112
    rows = balanced_rows(3, 5, groups, seed=0)
    views, once = rows[:-5], rows[-5:]
    assert once.tolist() == list(range(108, 113)) and views.max() < 108
    assert np.bincount(np.tile(groups, 3)[views]).tolist() == [54, 54]
    assert len(set(views[np.tile(groups, 3)[views] == 1].tolist())) == 18  # the small folder: every view, thrice


@TENSORFLOW
def test_the_tier_refuses_folders_that_do_not_match_the_photos(tf):
    from fmnist.train.photo_tier import TierRecipe, fit_tier

    x, y = np.zeros((3, 32, 32, 3), np.float32), np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="got 2 for 3 photos"):
        fit_tier(BACKBONES["lite0"], 32, x, y, x, y, TierRecipe(), groups=np.zeros(2, int))


def test_photos_are_oversampled_to_their_share():
    x_fm, y_fm = np.zeros((900, 28, 28, 1), np.float32), fmnist_targets(np.zeros(900, int))
    ids = np.arange(1, 41, dtype=np.float32)  # photo i is all i, its target's flag is i too
    x_ph = np.broadcast_to(ids[:, None, None, None], (40, 28, 28, 1)).copy()
    y_ph = np.zeros((40, 12), np.float32)
    y_ph[:, 10] = ids
    x, y = mixed_arrays(x_fm, y_fm, x_ph, y_ph, share=0.25, seed=0)
    assert len(x) == 1200 and (x[:, 0, 0, 0] > 0).mean() == pytest.approx(0.25)  # 7.5 copies of the 40 photos
    seen = np.bincount(x[900:, 0, 0, 0].astype(int), minlength=41)[1:]
    assert set(seen.tolist()) == {7, 8} and (seen == 8).sum() == 20
    assert np.array_equal(x[900:, 0, 0, 0], y[900:, 10])  # each photo keeps its own target


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("photo-run")
    train_tree = make_tree(root / "train", per_class=8, broken=True)
    val_tree = make_tree(root / "validation", per_class=4)
    out = root / "run"
    got = runner.invoke(app, ["train", "--model", "cnn", "--limit", "600", "--epochs", "2", "--seed", "0",
                              "--photos", str(train_tree), "--photos-val", str(val_tree), "--photo-epochs", "1",
                              "--out", str(out)])
    assert got.exit_code == 0, got.output
    return out, json.loads((out / "metrics.json").read_text()), got


@pytest.mark.slow
def test_train_with_photos_records_the_mix_and_the_photo_figures(photo_run):
    out, metrics, got = photo_run
    mix = metrics["recipe"]["photo_mix"]
    assert mix["n_photos"] == 32 and mix["skipped"] == 2 and mix["photo_epochs"] == 1 and mix["pretrain_epochs"] == 1
    assert mix["share"] == 0.25 and mix["oversampling"] > 1
    photos = metrics["photos"]
    assert photos["n"] == 16 and photos["n_mapped"] == 12
    assert set(photos["per_folder"]) == {"hat", "longsleeve", "pants", "t-shirt"}
    assert photos["per_folder"]["hat"]["mapped"] is False and "lenient" not in photos["per_folder"]["hat"]
    mapped = [f for f in photos["per_folder"].values() if f["mapped"]]
    right = sum(f["lenient"] * f["n"] for f in mapped)  # over the 12 mapped photos: the folders' own added up
    assert abs(right - round(right)) < 1e-3 and photos["lenient"] == pytest.approx(right / 12, abs=1e-4)
    # strict over the photos with one answer: not the 4 of longsleeve, a folder labelled by eye that the label file
    # does not know (made here), whose class its folder cannot tell
    assert photos["unknown_by_eye"] == 4 and photos["n_strict"] == sum(f["n_strict"] for f in mapped) == 8
    right = sum(f["strict"] * f["n_strict"] for f in mapped)
    assert abs(right - round(right)) < 1e-3 and photos["strict"] == pytest.approx(right / 8, abs=1e-4)
    assert photos["strict"] <= photos["lenient"]
    assert photos["coverage"] >= 0.9  # the threshold was chosen to answer 90 % of mapped photos
    assert metrics["decision"]["threshold"] == photos["threshold"]
    assert np.array(photos["confusion"]["counts"]).sum() == 16
    assert (out / "photo_confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "truncated.jpg" in got.stderr and "lenient" in got.stdout


@pytest.mark.slow
def test_the_threshold_travels_into_the_export_and_classify(photo_run, tmp_path):
    out, metrics, _ = photo_run
    exported = runner.invoke(app, ["export", str(out), "--no-tflite"])
    assert exported.exit_code == 0, exported.output
    model = out / "model.onnx"
    meta = read_meta(model)
    assert meta.decision == metrics["decision"] and meta.training["recipe"]["photo_mix"]["share"] == 0.25
    photo = str(out.parent / "validation" / "pants" / "0.jpg")

    line = json.loads(runner.invoke(app, ["classify", photo, "--model", str(model), "--json"]).stdout)
    assert line["threshold"] == metrics["decision"]["threshold"]
    assert line["sure"] is (line["score"] >= line["threshold"]) and {"label", "top", "index"} <= set(line)
    strict = runner.invoke(app, ["classify", photo, "--model", str(model), "--threshold", "1"])
    assert json.loads(runner.invoke(app, ["classify", photo, "--model", str(model), "--threshold", "1",
                                          "--json"]).stdout)["sure"] is False
    assert ": not sure (maybe " in strict.stdout
    lenient = json.loads(runner.invoke(app, ["classify", photo, "--model", str(model), "--threshold", "0",
                                             "--json"]).stdout)
    assert lenient["sure"] is True and lenient["threshold"] == 0
