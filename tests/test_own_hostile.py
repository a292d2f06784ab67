"""Your own classes as a hostile user gives them: `live --collect` labels that no folder (or OpenCV) can take, a
label folder that is a link, a guide box off the frame, a run folder inside the photos it learns from, an --init
model of another shape, and held-out photos that are not held out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner, Result

from fmnist.cli import app
from fmnist.evaluation.photo_set import list_photos
from fmnist.runtime.video.step import guide_box
from tests.crafted import own_run
from tests.live_sources import mjpeg_avi
from tests.photo_tree import make_tree

runner = CliRunner()
NFC, NFD = "caf\u00e9", "cafe\u0301"  # "café" as most systems store it, and as macOS does


def collect(tmp_path: Path, *args: str) -> Result:
    """`fmnist live` on a 12-frame 320x240 video, headless, collecting into tmp_path/c."""
    video = mjpeg_avi(tmp_path / "v.avi", 12)
    return runner.invoke(app, ["live", "--source", str(video), "--model", "edge", "--no-display", "--collect",
                               str(tmp_path / "c"), *args])


@pytest.mark.parametrize("label", ["\udcff\udcfe", "a\nb", "tab\there", "x" * 65, "\U0001f600" * 60])
def test_a_label_no_folder_or_overlay_can_take_is_refused_before_anything_is_made(tmp_path, label):
    """Bytes that are not UTF-8 crashed OpenCV's text drawing (SIGSEGV: the worker would crash); a newline was
    collected, then refused by train-own; 250 characters failed at the first save."""
    got = collect(tmp_path, "--collect-label", label, "--every", "4")
    assert got.exit_code == 2 and got.stderr.startswith("error: label ") and "cannot be a folder name" in got.stderr
    assert got.stderr.count("\n") == 1, got.stderr
    assert "use up to 64 printable characters and at most 200 bytes in UTF-8" in got.stderr  # the two limits
    assert not (tmp_path / "c").exists()


def test_one_collect_label_is_one_name_even_with_a_comma(tmp_path):
    got = collect(tmp_path, "--collect-label", "a,b", "--every", "4")
    assert got.exit_code == 0, got.stderr
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["a,b"]
    assert len(list((tmp_path / "c" / "a,b").iterdir())) == 3


def test_several_collect_labels_need_a_window(tmp_path):
    got = collect(tmp_path, "--collect-labels", "mug,cup", "--every", "4")
    assert got.exit_code == 2 and "--collect-labels picks a label with the keys 1-9 in a window" in got.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("kind", ["link", "dangling link", "file"])
def test_a_label_folder_that_is_a_link_or_a_file_is_refused_and_nothing_is_written_through_it(tmp_path, kind):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "c").mkdir()
    mug = tmp_path / "c" / "mug"
    if kind == "file":
        mug.write_text("my notes")
    else:
        mug.symlink_to(elsewhere if kind == "link" else tmp_path / "gone")
    got = collect(tmp_path, "--collect-label", "mug", "--every", "4")
    what = "file" if kind == "file" else "link"
    assert got.exit_code == 1 and f"cannot collect into {mug}: it is a {what}, not a folder" in got.stderr
    assert list(elsewhere.iterdir()) == [] and (kind != "file" or mug.read_text() == "my notes")


def test_a_guide_box_mostly_off_the_frame_is_refused_and_nothing_is_collected(tmp_path):
    got = collect(tmp_path, "--collect-label", "mug", "--every", "4", "--roi", "316,0,100,100")
    assert got.exit_code == 2 and "--roi 316,0,100,100: less than half of it lies in the 320x240 frame" in got.stderr
    assert not (tmp_path / "c").exists()  # the folders it made, empty, are gone: a label with no photos would be
    (tmp_path / "c" / "cup").mkdir(parents=True)  # left for train-own; one that was there stays
    collect(tmp_path, "--collect-label", "cup", "--roi", "316,0,100,100")
    assert (tmp_path / "c" / "cup").is_dir()


def test_a_refused_guide_box_removes_the_parent_folders_collect_made_too(tmp_path):
    video = mjpeg_avi(tmp_path / "v.avi", 12)
    got = runner.invoke(app, ["live", "--source", str(video), "--model", "edge", "--no-display", "--collect",
                              str(tmp_path / "a" / "b" / "c"), "--collect-label", "mug", "--roi", "316,0,100,100"])
    assert got.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.avi"]  # no a/, a/b/, a/b/c/ nor mug/


def test_a_label_refused_after_another_s_folder_was_made_removes_that_folder(tmp_path):
    from fmnist.runtime.video.collect import CollectError, Collector

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "cup").write_text("my notes")  # the second label's name is a file of the user's
    with pytest.raises(CollectError, match="it is a file, not a folder"):
        Collector(tmp_path / "c", ["mug", "cup"])
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["cup"]  # mug/, made for the first label, is gone
    assert (tmp_path / "c" / "cup").read_text() == "my notes"


def test_a_path_through_a_missing_folder_and_back_removes_only_the_folder_it_made(tmp_path, monkeypatch):
    """`new/../e` did not exist while `new` did not, so the user's empty `e/` (and `e/mug/`) were taken as made."""
    from fmnist.runtime.video.collect import Collector

    monkeypatch.chdir(tmp_path)
    Path("e/mug").mkdir(parents=True)  # the user's, empty
    Collector(Path("new/../e"), ["mug", "cup"]).close()
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["e", "e/mug"]  # new/ and cup/ gone


def test_a_guide_box_is_clipped_while_most_of_it_lies_in_the_frame():
    assert guide_box(320, 240, (300, 0, 30, 100)) == (300, 0, 20, 100)  # 2/3 inside
    assert guide_box(320, 240, (-10, -10, 100, 100)) == (0, 0, 90, 90)
    assert guide_box(320, 240, (0, 0, 320, 240)) == (0, 0, 320, 240)


def test_hidden_folders_are_no_class(tmp_path):
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("hat", "pants"))
    shutil.copytree(photos / "hat", photos / ".thumbnails")
    assert list(list_photos(photos)) == ["hat", "pants"]


@pytest.mark.parametrize("out", ["photos/run", "photos", "val/run"])
def test_a_run_folder_inside_the_photos_it_reads_is_refused_before_they_are_read(tmp_path, monkeypatch, out):
    """The run's plots would be read as photos of a class named after the run folder by the next run."""
    make_tree(tmp_path / "photos", per_class=2, classes=("hat", "pants"))
    make_tree(tmp_path / "val", per_class=1, classes=("hat", "pants"))
    monkeypatch.chdir(tmp_path)
    got = runner.invoke(app, ["train-own", "photos", "--photos-val", "val", "--out", out, "--epochs", "1"])
    assert got.exit_code == 2 and got.stderr.startswith(f"error: --out {out} is inside the photo folder ")
    assert "photos in" not in got.output  # refused before the photos were read
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["hat", "pants"]


@pytest.mark.slow
def test_held_out_photos_must_cover_every_class_and_differ_from_the_learned_ones(tmp_path):
    photos = make_tree(tmp_path / "photos", per_class=3, classes=("hat", "pants", "t-shirt"))
    make_tree(tmp_path / "val", per_class=2, classes=("hat",))
    got = runner.invoke(app, ["train-own", str(photos), "--photos-val", str(tmp_path / "val"), "--out",
                              str(tmp_path / "run"), "--epochs", "1"])
    assert got.exit_code == 2 and "has no folder of pants, t-shirt" in got.stderr
    assert "photos in" not in got.output  # told from the folders' names, before a photo is read
    (tmp_path / "val" / "pants").mkdir()
    (tmp_path / "val" / "pants" / "0.jpg").write_bytes(b"not a photo")  # a folder, no photo it can read
    make_tree(tmp_path / "val", per_class=1, classes=("t-shirt",))
    got = runner.invoke(app, ["train-own", str(photos), "--photos-val", str(tmp_path / "val"), "--out",
                              str(tmp_path / "run"), "--epochs", "1"])
    assert got.exit_code == 2 and "has no photo it can read of pants" in got.stderr
    got = runner.invoke(app, ["train-own", str(photos), "--photos-val", str(photos), "--out", str(tmp_path / "run"),
                              "--epochs", "1"])
    assert got.exit_code == 2 and "9 of its photos are also in" in got.stderr
    (photos / "hat").rename(photos / NFC)  # the same photos with "café" in NFD: past the folder names, to the photos
    shutil.copytree(photos, tmp_path / "nfd")
    (tmp_path / "nfd" / NFC).rename(tmp_path / "nfd" / NFD)
    got = runner.invoke(app, ["train-own", str(photos), "--photos-val", str(tmp_path / "nfd"), "--out",
                              str(tmp_path / "run"), "--epochs", "1"])
    assert got.exit_code == 2 and "9 of its photos are also in" in got.stderr, got.output
    (tmp_path / "nfd" / NFD).rename(tmp_path / "nfd" / NFC)
    shutil.copytree(tmp_path / "nfd" / "pants", tmp_path / "nfd" / "pants ")  # one class, or two?
    got = runner.invoke(app, ["train-own", str(photos), "--photos-val", str(tmp_path / "nfd"), "--out",
                              str(tmp_path / "run"), "--epochs", "1"])
    assert got.exit_code == 2 and "has folders 'pants' and 'pants ' that print alike" in got.stderr, got.output
    assert "photos in" not in got.output  # refused before the photos were read
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("tensorflow")  # on the worker that has TensorFlow loaded
def test_an_init_model_of_another_shape_is_one_line(tmp_path):
    from fmnist.core.tf import keras

    image = keras.Input((32, 32, 3))
    keras.Model(image, keras.layers.Dense(10, name="logits")(keras.layers.Flatten()(image))).save(tmp_path / "a.keras")
    image = keras.Input((28, 28, 1))
    conv = keras.layers.Conv2D(10, 3, name="logits")(image)
    keras.Model(image, keras.layers.GlobalAveragePooling2D()(conv)).save(tmp_path / "b.keras")
    photos = make_tree(tmp_path / "photos", per_class=3, classes=("hat", "pants"))
    for name, why in (("a", "its input is [(None, 32, 32, 3)], not one 28x28x1 image"),
                      ("b", "its logits layer is not a Dense layer on a feature vector")):
        got = runner.invoke(app, ["train-own", str(photos), "--out", str(tmp_path / f"run-{name}"), "--epochs", "1",
                                  "--init", str(tmp_path / f"{name}.keras")])
        line = (f"error: --init {tmp_path / name}.keras: not a Fashion-MNIST model of fmnist train ({why}); give a "
                "run's model.keras, e.g. runs/edge/model.keras\n")
        assert got.exit_code == 4 and got.stderr.endswith(line) and got.stderr.count("error:") == 1, got.output


def test_hidden_files_and_folders_in_a_class_folder_are_no_photos(tmp_path):
    """The temp file of a collect a kill cut short (.fmnist-….tmp.jpg) or a .thumbnails folder is no photo."""
    photos = make_tree(tmp_path / "photos", per_class=2, classes=("hat", "pants"))
    shutil.copy(photos / "hat" / "0.jpg", photos / "hat" / ".fmnist-abc123.tmp.jpg")
    shutil.copytree(photos / "hat", photos / "hat" / ".thumbnails")
    assert [p.name for p in list_photos(photos)["hat"]] == ["0.jpg", "1.jpg"]


@pytest.mark.slow
def test_a_class_with_nothing_the_preprocessing_finds_is_refused(tmp_path):
    photos = make_tree(tmp_path / "photos", per_class=4, classes=("hat", "pants"))
    (photos / "blank").mkdir()
    for i in range(4):
        cv2.imwrite(str(photos / "blank" / f"{i}.jpg"), np.full((160, 160, 3), 215, np.uint8))
    got = runner.invoke(app, ["train-own", str(photos), "--out", str(tmp_path / "run"), "--epochs", "1"])
    assert got.exit_code == 2 and "no photo to learn from in blank: the preprocessing found nothing" in got.stderr
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KB tmpfs (root only)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]).returncode:
        pytest.skip("mounting a tmpfs needs root")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_file_that_cannot_be_recorded_on_a_full_disk_is_kept_and_the_error_says_so(small_disk):
    """A trained model must not be lost for want of a few hundred bytes of manifest; the line says it is written but
    not on record (the next run takes it for yours until it is moved)."""
    from fmnist.core.errors import FmnistError
    from fmnist.core.owned import OwnedFolder

    (small_disk / "run").mkdir()
    run = OwnedFolder(small_disk / "run", "--out")
    run.write_bytes("a.bin", b"a" * 4000)
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_bsize
    with pytest.raises(FmnistError, match=r"run/b.bin is written, but .fmnist-files.json could not record it \(No "
                                          r"space left on device\)"):
        run.write_bytes("b.bin", b"b" * free)  # fits, and leaves no room for the manifest
    assert (small_disk / "run" / "b.bin").stat().st_size == free and sorted(run.written()) == ["a.bin"]


def test_a_collect_label_printed_like_a_folder_already_there_is_refused(tmp_path):
    (tmp_path / "c" / "caf\u00e9").mkdir(parents=True)
    got = collect(tmp_path, "--collect-label", "cafe\u0301", "--every", "4")
    assert got.exit_code == 1 and "its folder 'caf\u00e9' prints alike" in got.stderr
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["caf\u00e9"]
    got = collect(tmp_path, "--collect-labels", "caf\u00e9,cafe\u0301")
    assert got.exit_code == 2 and "distinct comma-separated names" in got.stderr


def test_labels_that_differ_only_in_spaces_at_their_ends_are_one_name(tmp_path):
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("hat", "pants"))
    (photos / "pants").rename(photos / "hat ")
    got = runner.invoke(app, ["train-own", str(photos), "--out", str(tmp_path / "run")])
    assert got.exit_code == 2 and "labels repeat a name" in got.stderr



def test_a_class_folder_is_matched_to_its_label_as_its_name_prints(tmp_path):
    """An NFD "café" folder (copied from a Mac) is the model's NFC label "café" (it was "not a label of the model")."""
    model = own_run(tmp_path / "run", (NFC, "pants"))
    photos = make_tree(tmp_path / "photos", per_class=2, classes=("hat", "pants"))
    (photos / "hat").rename(photos / NFD)
    got = runner.invoke(app, ["evaluate", "--model", str(model), "--photos", str(photos), "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["photos"]["n"] == 4


def test_folders_or_photo_map_lines_that_print_alike_are_refused_not_merged(tmp_path):
    """Two folders "café" (NFC and NFD), or a map's "hat" and "hat ", would be one class: the photos of one counted
    under the other's label. Refused, naming both as ascii() shows them."""
    model = own_run(tmp_path / "run", (NFC, "pants"))
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("hat", "pants", "t-shirt"))
    (photos / "hat").rename(photos / NFC)
    (photos / "t-shirt").rename(photos / NFD)
    got = runner.invoke(app, ["evaluate", "--model", str(model), "--photos", str(photos), "--json"])
    assert got.exit_code == 2 and "photo folders 'cafe\\u0301' and 'caf\\xe9' print alike" in got.stderr, got.output
    (tmp_path / "map.json").write_text('{"hat": [], "hat ": ["Coat"], "pants": ["Trouser"]}')
    photos = make_tree(tmp_path / "clothes", per_class=1, classes=("hat", "pants"))
    got = runner.invoke(app, ["evaluate", "--model", "edge", "--photos", str(photos), "--photo-map",
                              str(tmp_path / "map.json"), "--json"])
    assert got.exit_code == 2 and "gives folders 'hat' and 'hat ' that print alike" in got.stderr, got.output


def test_labels_by_eye_follow_a_folder_however_its_name_is_stored():
    """A copy of the photo set whose "shoes" folder is stored "shoes " (or in another Unicode form) keeps its labels
    by eye: each shoe its own class, not the folder's "Sandal"."""
    from fmnist.evaluation.photo_labels import PhotoLabels

    labels = PhotoLabels.load()
    shoes = [digest for digest, folder in labels.folders.items() if folder == "shoes"][:5]
    assert len(shoes) == 5
    assert list(labels.of(shoes, ["shoes "] * 5)) == list(labels.of(shoes, ["shoes"] * 5))
    assert all(code >= -2 for code in labels.of(shoes, ["shoes "] * 5))  # a label or other/none: not "no row"
