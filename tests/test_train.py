"""Training and evaluation through the CLI, in-process. Tiny --limit runs check the mechanics; one full-data epoch
of the notebook CNN (tests/test_export.py's exported CNN) checks that the pipeline really learns."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from conftest import Reruns
from fresh_process import run_fresh
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.runtime.cutout import PREPROCESS_VERSION

ARTIFACTS = ("model.keras", "history.json", "metrics.json", "curves.png", "confusion.png", "samples.png",
             "errors.png")
runner = CliRunner()


def train(out, *args):
    got = runner.invoke(app, ["train", "--out", str(out), "--seed", "0", *args])
    assert got.exit_code == 0, got.output
    return json.loads((out / "metrics.json").read_text()), got


@pytest.mark.slow
def test_tiny_run_writes_every_artifact(tiny_run):
    out, metrics, stdout = tiny_run
    for name in ARTIFACTS:
        assert (out / name).stat().st_size > 0, name
    for png in ARTIFACTS[3:]:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_accuracy"]) == 2
    assert metrics["config"]["n_train"] + metrics["config"]["n_val"] == 600
    assert metrics["config"]["n_val"] == 60  # the default 10 % stratified split
    assert sum(map(sum, metrics["confusion"])) == 10_000  # always judged on the full test set
    assert set(metrics["per_class"]["Sandal"]) == {"precision", "recall", "f1", "support"}
    assert f"test accuracy {metrics['test_accuracy']:.2%}" in stdout


@pytest.mark.parametrize("name", ["mlp", "mlp2"])
@pytest.mark.slow
def test_the_notebook_mlps_learn_from_2000_images(tmp_path, name):
    """Two epochs on 2,000 images: 69-76 % measured (seeds 0 and 1), against 10 % for chance. The notebook CNN
    learns on the full data in tests/test_export.py."""
    metrics, _ = train(tmp_path, "--model", name, "--epochs", "2", "--limit", "2000")
    assert metrics["model"] == name and metrics["test_accuracy"] >= 0.55
    assert metrics["preprocess"]["version"] == PREPROCESS_VERSION  # the run records its preprocessing


@pytest.mark.slow
def test_a_fixed_seed_repeats_the_run(tiny_run, tiny_reruns: Reruns):
    """The tiny run again with its seed: the same history and test answers; with another seed, other answers. (The
    runs again are conftest's, trained into a copy of the tiny run's folder; a new folder is no different to train.)"""
    out, first, _ = tiny_run
    again = json.loads((tiny_reruns.same_seed / "metrics.json").read_text())
    assert (out / "history.json").read_text() == (tiny_reruns.same_seed / "history.json").read_text()
    assert again["config"]["seed"] == first["config"]["seed"] == 0 and first["confusion"] == again["confusion"]
    other = json.loads((tiny_reruns.folder / "metrics.json").read_text())
    assert other["config"]["seed"] == 1 and other["confusion"] != first["confusion"]


@pytest.mark.slow
def test_evaluate_matches_the_training_report(tiny_run):
    out, metrics, _ = tiny_run
    got = runner.invoke(app, ["evaluate", "--model", str(out / "model.keras"), "--json"])
    assert got.exit_code == 0, got.output
    report = json.loads(got.stdout)
    assert report["accuracy"] == metrics["test_accuracy"]
    assert report["confusion"] == metrics["confusion"]
    table = runner.invoke(app, ["evaluate", "--model", "edge"])  # the table: the same for any format, and shipped
    assert table.exit_code == 0, table.output                    # edge's ONNX file reads in a second, not three
    assert "Ankle boot" in table.stdout and "confusion matrix" in table.stdout


@pytest.mark.parametrize(("name", "content"), [("missing.keras", None), ("junk.keras", b"not a model"),
                                               ("model.h5", b"")])
def test_evaluate_rejects_bad_models_with_one_line(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    got = runner.invoke(app, ["evaluate", "--model", str(path)])
    assert got.exit_code == 4
    assert got.stderr.startswith("error: ") and got.stderr.count("\n") == 1
    assert name in got.stderr


@pytest.mark.parametrize("kind", ["junk", "pipe", "endless"])
def test_a_keras_file_that_is_not_a_zip_archive_is_refused_before_tensorflow_loads(tmp_path, kind):
    """Junk bytes, a pipe (nothing would ever be written to it) and /dev/zero (endless) under a .keras name."""
    path = tmp_path / f"{kind}.keras"
    if kind == "junk":
        path.write_bytes(b"not a model")
    elif kind == "pipe":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    outcome, err = run_fresh("evaluate", "--model", str(path))
    assert outcome == "4 False", err
    assert err == f"error: cannot load {path} as a Keras model (it is not a file holding a zip archive); " \
                  "re-run fmnist train to write it again\n"


def _keras_bomb(path: Path) -> str:
    """A config.json deflated to 1/1000 of its size, which Keras would read whole: refused for its method (Keras
    stores its members), whatever it declares (tests/test_zip_archive.py bounds the declared sizes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("config.json", "w") as member:
            member.write(bytes(1 << 24))
        archive.writestr("model.weights.h5", b"")
    return "its member 'config.json' is deflated, not stored"


def _keras_crowd(path: Path) -> str:
    """An archive listing 5,000 members: zipfile would make an object for each before any is read."""
    with zipfile.ZipFile(path, "w") as archive:
        for n in range(5_000):
            archive.writestr(f"{n}.json", b"")
    return "its archive lists 5,000 members, more than the 1,000 a Keras model may hold"


def _keras_huge(path: Path) -> str:
    """A 300 MB file (sparse) that ends in a real zip archive: too large to be hashed or read."""
    with open(path, "wb") as f:
        f.truncate(300_000_000)
        f.seek(0, os.SEEK_END)
        with zipfile.ZipFile(f, "a") as archive:
            archive.writestr("config.json", "{}")
    return "300 MB, over the 200 MB a Keras model may take"


def _keras_weights_bomb(path: Path) -> str:
    """A weights file whose gzip-chunked dataset declares 400 MB and holds nothing: h5py would allocate it all."""
    import h5py

    weights = path.with_name("weights.h5")
    with h5py.File(weights, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", shape=(100_000_000,), dtype="f4", chunks=True, compression="gzip")
    with zipfile.ZipFile(path, "w") as archive:  # stored, as Keras writes
        archive.writestr("config.json", "{}")
        archive.write(weights, "model.weights.h5")
    return "its model.weights.h5 dataset 'layers/dense/vars/0' declares 400,000,000 bytes but holds 0"


def _keras_linked_weights(path: Path) -> str:
    """A weights group that is an external link to a FIFO: h5py would open it and wait for ever."""
    import h5py

    weights = path.with_name("weights.h5")
    os.mkfifo(path.with_name("fifo.h5"))
    with h5py.File(weights, "w") as h5:
        h5["layers"] = h5py.ExternalLink(str(path.with_name("fifo.h5")), "/")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.write(weights, "model.weights.h5")
    return "its model.weights.h5 links 'layers' elsewhere (ExternalLink)"


def _keras_vlen_weights(path: Path) -> str:
    """A weights dataset of variable-length strings: each entry points at heap data any number of times."""
    import h5py

    weights = path.with_name("weights.h5")
    with h5py.File(weights, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", data=["x" * 100] * 3, dtype=h5py.string_dtype())
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.write(weights, "model.weights.h5")
    return "its model.weights.h5 dataset 'layers/dense/vars/0' is not an array of numbers (object, shape (3,))"


def _keras_big_config(path: Path) -> str:
    """A stored config.json of 5 MB: parsed, JSON takes some 30 times its bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "[" + "[]," * 1_666_666 + "[]]")
    return "its config.json is 5,000,002 bytes, over the 4,000,000 it may take"


@pytest.mark.parametrize(("command", "make"), [
    ("evaluate", _keras_bomb), ("evaluate", _keras_crowd), ("evaluate", _keras_huge),
    ("evaluate", _keras_weights_bomb), ("evaluate", _keras_linked_weights), ("evaluate", _keras_vlen_weights),
    ("evaluate", _keras_big_config),
    ("export", _keras_huge),  # export hashed a .keras file before it loaded it
])
def test_a_keras_archive_over_its_limits_is_refused_before_it_is_read(tmp_path, command, make):
    """Each bound of fmnist.evaluation.keras_archive, told before a member is read: exit 4 with one line,
    TensorFlow not loaded, in about the time Python takes to start."""
    run = tmp_path / "run"
    run.mkdir()
    message = make(run / "model.keras")
    args = ["--model", str(run / "model.keras")] if command == "evaluate" else [str(run)]
    outcome, err = run_fresh(command, *args)
    assert outcome == "4 False", err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


@pytest.mark.slow
def test_photo_folders_where_no_photo_can_be_read_are_one_error_line(tmp_path):
    """They pass the check before TensorFlow (class folders with image names); reading them finds nothing: exit 3,
    not a traceback from an empty concatenation."""
    unread = tmp_path / "unread"
    for folder, name in (("shirt", "a.jpg"), ("pants", "b.JPG")):
        (unread / folder).mkdir(parents=True)
        (unread / folder / name).write_text("not a photo")
    got = runner.invoke(app, ["train", "--model", "mlp", "--epochs", "1", "--limit", "500", "--photos", str(unread),
                              "--photos-val", str(unread), "--out", str(tmp_path / "run")])
    assert got.exit_code == 3, got.output
    last = got.stderr.splitlines()[-1]  # after the list of unreadable photos
    assert last.startswith(f"error: no photo in {unread} could be read (2 tried)") and "Traceback" not in got.output
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_train_own_init_with_no_logits_layer_is_one_error_line(tmp_path):
    """A .keras model that is not a Fashion-MNIST model of fmnist train (here: a train-own-like head named otherwise)
    has no layer to replace: exit 4, one line."""
    from photo_tree import make_tree

    from fmnist.core.tf import keras

    init = tmp_path / "other.keras"
    inputs = keras.Input((28, 28, 1))
    keras.Model(inputs, keras.layers.Dense(3, name="own_logits")(keras.layers.Flatten()(inputs))).save(init)
    photos = make_tree(tmp_path / "photos", per_class=3, classes=("hat", "pants"))
    got = runner.invoke(app, ["train-own", str(photos), "--init", str(init), "--epochs", "1",
                              "--out", str(tmp_path / "run")])
    assert got.exit_code == 4, got.output
    assert got.stderr.splitlines()[-1].startswith(f"error: --init {init}: not a Fashion-MNIST model of fmnist train")
    assert "Traceback" not in got.output and not (tmp_path / "run" / "model.keras").exists()
