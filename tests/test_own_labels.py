"""Your own classes: N-label models through the runtime, and the whole path from a camera to a deployed model
(live --collect on generated video, train-own, export with the gate on held-out photos, classify,
bench, bundle's self-test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import ModelError
from fmnist.core.meta import CLASS_NAMES, ModelMeta
from fmnist.export.embed import embed_onnx
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.image import read_image
from fmnist.runtime.preparation import CUTOUT

ROOT = Path(__file__).resolve().parent.parent
PANTS = ROOT / "examples" / "photos" / "pants.jpg"
FIVE = ["mug", "cup", "bowl", "plate", "spoon"]
runner = CliRunner()


def tiny_weights(outputs: int) -> np.ndarray:
    """The tiny model's (784, outputs) weights: fixed, so a test can work out its answers with numpy."""
    return np.random.default_rng(0).normal(0, 0.05, (784, outputs)).astype(np.float32)


def tiny_onnx(path: Path, outputs: int, labels: list[str]) -> Path:
    """A linear softmax model (no TensorFlow): (N, 28, 28, 1) -> (N, outputs), with fmnist metadata."""
    weights = helper.make_tensor("w", TensorProto.FLOAT, [784, outputs], tiny_weights(outputs).ravel().tolist())
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)],
        "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 28, 28, 1])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", outputs])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    meta = ModelMeta(precision="fp32", source_sha256="0" * 64, labels=labels, preprocessing=CUTOUT.prose)
    path.write_bytes(embed_onnx(path, meta))
    return path


def tiny_answer(photo: Path, labels: list[str]) -> list[tuple[str, float]]:
    """What the tiny model should answer for a photo, worked out with numpy: (label, probability), best first."""
    x = CUTOUT.to_input(CUTOUT.prepare(read_image(photo)).image[None]).reshape(1, 784)
    logits = (x @ tiny_weights(len(labels)))[0].astype(np.float64)
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    return [(labels[i], float(probs[i])) for i in np.argsort(-probs)]


def test_the_runtime_refuses_a_model_whose_outputs_and_labels_disagree(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", 5, ["mug", "cup", "bowl", "plate"])
    with pytest.raises(ModelError, match=r"4 labels .*the output count and the labels disagree"):
        Classifier(model)
    got = runner.invoke(app, ["classify", str(PANTS), "--model", str(model)])
    assert got.exit_code == 4 and "disagree" in got.output  # a model error


def test_a_five_label_model_answers_with_its_own_labels(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", 5, FIVE)
    got = runner.invoke(app, ["classify", str(PANTS), "--model", str(model), "--json", "--threshold", "0"])
    assert got.exit_code == 0, got.output
    row = json.loads(got.stdout)
    expected = tiny_answer(PANTS, FIVE)[:3]  # the model's own answer, label for output, in order
    assert [(t["label"], t["index"]) for t in row["top"]] == [(label, FIVE.index(label)) for label, _ in expected]
    assert [t["score"] for t in row["top"]] == pytest.approx([p for _, p in expected], abs=1e-4)
    assert row["label"] == expected[0][0] and row["sure"] is True
    probs = Classifier(model).predict(np.stack([CUTOUT.prepare(read_image(PANTS)).image] * 3))
    assert probs.shape == (3, 5) and np.abs(probs.sum(axis=1) - 1).max() < 1e-5
    info = runner.invoke(app, ["info", "--model", str(model)])
    assert "5 labels (its own): 0 mug, 1 cup, 2 bowl, 3 plate, 4 spoon" in info.output


def test_the_onnx_file_says_what_it_classifies_and_what_its_input_is(tmp_path):
    prose = "grayscale 28x28, the object bright on a dark background, x = pixel / 255"
    own = onnx.load(str(tiny_onnx(tmp_path / "own.onnx", 5, FIVE)))
    assert own.doc_string == f"fmnist classifier of 5 own classes: mug, cup, bowl, plate, spoon (fp32); input: {prose}"
    assert own.graph.input[0].doc_string == prose
    fashion = onnx.load(str(tiny_onnx(tmp_path / "fashion.onnx", 10, list(CLASS_NAMES))))
    assert fashion.doc_string == (f"Fashion-MNIST classifier (fp32); labels: {', '.join(CLASS_NAMES)}; "
                                  f"input: {prose}")


# ---- live --collect -------------------------------------------------------------------------------------

SHAPES = {  # a dark shape per class, as a camera would see an object held in the guide box
    "disc": lambda img, c, r: cv2.circle(img, c, r, (40, 40, 40), cv2.FILLED),
    "bar": lambda img, c, r: cv2.rectangle(img, (c[0] - r // 3, c[1] - r), (c[0] + r // 3, c[1] + r), (40, 40, 40),
                                           cv2.FILLED),
    "wedge": lambda img, c, r: cv2.fillPoly(img, [np.array([(c[0], c[1] - r), (c[0] + r, c[1] + r),
                                                             (c[0] - r, c[1] + r)], np.int32)], (40, 40, 40)),
}


def shape_video(path: Path, kind: str, frames: int, seed: int) -> Path:
    """640x480 frames of one shape on a light, noisy table, moving and resizing a little from frame to frame. The
    sensor noise is uniform within +-7 (a spread of 4.3, as a Gaussian of 4): a fifth of a Gaussian's cost."""
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (640, 480))
    for _ in range(frames):
        image = np.full((480, 640, 3), 225, np.int16)
        centre = (320 + int(rng.integers(-30, 30)), 240 + int(rng.integers(-30, 30)))
        SHAPES[kind](image, centre, int(rng.integers(60, 100)))
        writer.write((image + rng.integers(-7, 8, image.shape, dtype=np.int16)).clip(0, 255).astype(np.uint8))
    writer.release()
    return path


def collect(video: Path, folder: Path, label: str, every: int) -> tuple[int, str]:
    got = runner.invoke(app, ["live", "--source", str(video), "--no-display", "--collect", str(folder),
                              "--collect-label", label, "--every", str(every)])
    return got.exit_code, got.output


@pytest.mark.slow
def test_collect_headless_saves_every_nth_region_crop(tmp_path):
    video = shape_video(tmp_path / "disc.avi", "disc", 20, 0)
    code, output = collect(video, tmp_path / "photos", "disc", 4)
    assert code == 0, output
    saved = sorted((tmp_path / "photos" / "disc").iterdir())
    assert len(saved) == 5 and "collected into" in output and "disc 5" in output
    assert all(p.suffix == ".jpg" for p in saved)  # no temp file left behind
    crop = cv2.imread(str(saved[0]))
    assert crop.shape == (346, 346, 3)  # the raw region live classifies (60 % of 480, and 10 % more each side)
    code, _ = collect(video, tmp_path / "photos", "disc", 4)  # a second session adds to the folder
    assert code == 0 and len(list((tmp_path / "photos" / "disc").iterdir())) == 10


def test_collect_usage_errors(tmp_path):
    video = shape_video(tmp_path / "v.avi", "disc", 2, 0)
    got = runner.invoke(app, ["live", "--source", str(video), "--no-display", "--collect", str(tmp_path / "p")])
    assert got.exit_code == 2 and "--collect-labels a,b,c" in got.output
    got = runner.invoke(app, ["live", "--source", str(video), "--no-display", "--collect-label", "mug"])
    assert got.exit_code == 2 and "go with --collect" in got.output
    got = runner.invoke(app, ["live", "--source", str(video), "--no-display", "--collect", str(tmp_path / "p"),
                              "--collect-label", "../up"])
    assert got.exit_code == 2 and "cannot be a folder name" in got.output
    got = runner.invoke(app, ["live", "--source", str(video), "--no-display", "--every", "3"])
    assert got.exit_code == 2 and "--every applies only with --collect DIR" in got.output
    assert not (tmp_path / "p").exists()


@pytest.fixture
def mounted(tmp_path):
    """Mount a small tmpfs (needs root, as CI is); yields a function taking mount options."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    points = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(points)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", str(point)], check=False)


def test_collect_into_a_read_only_folder_is_a_clear_error(tmp_path, mounted):
    folder = mounted("ro,size=1m")
    code, output = collect(shape_video(tmp_path / "v.avi", "disc", 4, 0), folder, "disc", 1)
    assert code == 1 and "cannot collect into" in output and "Read-only file system" in output


@pytest.mark.slow
def test_a_full_disk_stops_collection_and_keeps_what_was_saved(tmp_path, mounted):
    folder = mounted("size=160k")
    code, output = collect(shape_video(tmp_path / "v.avi", "disc", 60, 0), folder, "disc", 1)
    saved = list((folder / "disc").iterdir())
    assert code == 1 and "the disk is full" in output and "are kept" in output
    assert 0 < len(saved) < 60 and all(p.suffix == ".jpg" for p in saved)
    assert all(cv2.imread(str(p)) is not None for p in saved)  # every photo kept is whole


# ---- camera to deployed model -------------------------------------------------------------------------------

@pytest.mark.slow
def test_three_classes_from_video_to_a_bundle(tmp_path, checkout_wheel):
    photos = tmp_path / "photos"
    for seed, kind in enumerate(SHAPES):
        code, output = collect(shape_video(tmp_path / f"{kind}.avi", kind, 80, seed), photos, kind, 2)
        assert code == 0, output
    run = tmp_path / "run"
    # three shapes from the edge backbone: 18 of 18 held-out photos right after 2, 3, 4 or 6 epochs; 3 keep a margin
    got = runner.invoke(app, ["train-own", str(photos), "--epochs", "3", "--out", str(run)])
    assert got.exit_code == 0, got.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["labels"] == ["bar", "disc", "wedge"] and metrics["heldout_accuracy"] >= 0.9, metrics
    got = runner.invoke(app, ["export", str(run), "--int8"])
    assert got.exit_code == 0, got.output
    parity = json.loads((run / "parity.json").read_text())
    assert parity["data"] == "held-out photos" and parity["n_test"] == metrics["own_labels"]["n_heldout"]
    assert parity["passed"] and len(parity["files"]) == 4
    for name in ("model.int8.onnx", "model.int8.tflite"):
        info = runner.invoke(app, ["info", "--model", str(run / name), "--json"])
        assert json.loads(info.stdout)["labels"] == ["bar", "disc", "wedge"]
    said = runner.invoke(app, ["info", "--model", str(run / "model.int8.onnx")]).stdout  # chosen on what, in words
    assert "highest threshold answering >= 87% of held-out photos, on 15% of each folder): answers" in said
    assert " of held-out photos, " in said and "mapped" not in said
    assert onnx.load(str(run / "model.int8.onnx")).doc_string == (
        "fmnist classifier of 3 own classes: bar, disc, wedge (int8); input: grayscale 28x28, the object bright on a "
        "dark background, x = pixel / 255")
    deploys(run / "model.int8.onnx", next((photos / "wedge").iterdir()), "wedge", tmp_path / "dist" / "pi", 0.9,
            checkout_wheel)


def deploys(model: Path, sample: Path, label: str, out: Path, floor: float, wheel: Path) -> None:
    """classify --json, bench --json, evaluate and a bundle whose self-test passes, all with the model's labels.
    `wheel`: this checkout's fmnist wheel (conftest's checkout_wheel), built once rather than by every bundle."""
    labels = json.loads(runner.invoke(app, ["info", "--model", str(model), "--json"]).stdout)["labels"]
    got = runner.invoke(app, ["classify", str(sample), "--model", str(model), "--json", "--top", "3"])
    row = json.loads(got.stdout)
    assert got.exit_code == 0 and row["top"][0]["label"] == label
    assert [t["label"] for t in row["top"]] == [labels[t["index"]] for t in row["top"]]  # each output's own name
    assert len({t["index"] for t in row["top"]}) == 3 and sorted(t["score"] for t in row["top"])[::-1] == [
        t["score"] for t in row["top"]]  # three guesses, best first
    # the fewest timed runs bench takes: its accuracy row is what is checked here, not its timing
    got = runner.invoke(app, ["bench", "--model", str(model), "--threads", "1", "--iterations", "10", "--json"])
    assert got.exit_code == 0, got.output
    bench = json.loads(got.stdout)["rows"][0]
    assert bench["accuracy_on"] == "held-out photos" and bench["accuracy"] >= floor
    evaluated = json.loads(runner.invoke(app, ["evaluate", "--model", str(model), "--json"]).stdout)
    assert evaluated["data"] == "held-out photos" and list(evaluated["per_class"]) == labels
    assert evaluated["accuracy"] == bench["accuracy"]  # one harness
    got = runner.invoke(app, ["bundle", "--model", str(model), "--out", str(out), "--sample", str(sample),
                              "--wheel", str(wheel)])
    assert got.exit_code == 0, got.output
    selftest = subprocess.run([out / "selftest"], capture_output=True, text=True,
                              env={**os.environ, "FMNIST": str(Path(sys.executable).parent / "fmnist")})
    assert selftest.returncode == 0 and f"(expected {label}): PASS" in selftest.stdout, selftest.stdout


@pytest.mark.slow
def test_twelve_classes_train_export_and_deploy(tmp_path, checkout_wheel):
    photos = tmp_path / "photos"
    rng = np.random.default_rng(0)
    labels = [f"class{k:02d}" for k in range(12)]
    for k, name in enumerate(labels):  # k + 3 sided polygons, every other one a star
        (photos / name).mkdir(parents=True)
        for i in range(8):
            image = np.full((160, 160, 3), 220, np.uint8) + rng.integers(0, 10, (160, 160, 3), dtype=np.uint8)
            sides, star = 3 + k // 2, k % 2
            angles = np.linspace(0, 2 * np.pi, 2 * sides if star else sides, endpoint=False) + rng.uniform(0, 0.3)
            radius = np.where(np.arange(len(angles)) % 2 & star, 25, 55) * rng.uniform(0.8, 1.0)
            points = np.stack([80 + radius * np.cos(angles), 80 + radius * np.sin(angles)], 1).astype(np.int32)
            cv2.fillPoly(image, [points], (40, 40, 40))
            cv2.imwrite(str(photos / name / f"{i}.jpg"), image)
    run = tmp_path / "run"
    got = runner.invoke(app, ["train-own", str(photos), "--epochs", "2", "--holdout", "0.25",
                              "--out", str(run)])
    assert got.exit_code == 0, got.output
    got = runner.invoke(app, ["export", str(run), "--int8", "--no-tflite", "--min-agree", "0.5", "--max-drop", "50"])
    assert got.exit_code == 0, got.output
    assert "on 24 held-out photos" in (run / "parity.md").read_text()
    n_learn = json.loads((run / "metrics.json").read_text())["own_labels"]["n_learn"]
    calibration = json.loads((run / "parity.json").read_text())["calibration"]
    assert calibration["images"] == n_learn <= 72 < 1000  # the photos really used, not the --calib default
    classifier = Classifier(run / "model.int8.onnx")
    assert classifier.labels == labels and classifier.predict(np.zeros((2, 28, 28), np.uint8)).shape == (2, 12)
    sample = photos / "class11" / "0.jpg"
    deploys(run / "model.int8.onnx", sample, classifier.classify(cv2.imread(str(sample))).best.label,
            tmp_path / "dist" / "pi", 2 / 12, checkout_wheel)  # two epochs on 72 photos: above chance, no more asked


def test_collector_keys_pick_the_label_and_the_overlay_counts(tmp_path):
    from fmnist.runtime.video.collect import Collector

    collector = Collector(tmp_path, ["mug", "cup", "bowl"])
    crop = np.full((64, 64, 3), 200, np.uint8)
    collector.save(crop)
    assert collector.select(ord("3")) and collector.current == "bowl"
    assert not collector.select(ord("4")) and not collector.select(ord("x")) and collector.current == "bowl"
    collector.save(crop)
    collector.save(crop)
    assert collector.lines() == ["collect: bowl (space saves)", "1:mug 1  2:cup 0  3:bowl 2"]
    assert Collector(tmp_path, ["mug", "bowl"]).counts == {"mug": 1, "bowl": 2}  # a new session counts the old


@pytest.mark.slow
def test_the_shipped_backbone_is_the_shipped_model(real_data_dir):
    """fmnist/assets/edge.weights.h5 (where train-own starts) is the network of fmnist/assets/edge.onnx."""
    from fmnist.data import fashion
    from fmnist.runtime.classifier import default_model
    from fmnist.train.cutout_tier import backbone

    images = fashion.load_split("test", real_data_dir).images[:500]
    keras_probs = backbone(None).predict(CUTOUT.to_input(images), verbose=0)
    onnx_probs = Classifier(default_model().with_name("edge.onnx")).predict(images)
    assert np.abs(keras_probs - onnx_probs).max() < 1e-4


def test_class_folders_that_make_no_usable_labels_are_refused_before_any_photo_is_read(tmp_path):
    def folder(name: str) -> None:
        (tmp_path / "p" / name).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "p" / name / "0.jpg"), np.full((40, 40, 3), 200, np.uint8))

    folder("mug")
    got = runner.invoke(app, ["train-own", str(tmp_path / "p")])
    assert got.exit_code == 2 and "has 1 class folder(s) with photos; own labels need 2 to 50" in got.stderr
    folder("  ")
    got = runner.invoke(app, ["train-own", str(tmp_path / "p")])
    assert got.exit_code == 2 and "rename the folders" in got.stderr and "Traceback" not in got.output
    (tmp_path / "p" / "  " / "0.jpg").unlink()  # a class folder with nothing in it: its label would vanish
    got = runner.invoke(app, ["train-own", str(tmp_path / "p")])
    assert got.exit_code == 2 and "class folder '  ' holds no photos (.jpg" in got.stderr
