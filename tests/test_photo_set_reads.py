"""A photo folder as `evaluate --photos` and training read it: what cannot be listed or read is a warning line (a
folder) or a DataError (the top folder itself), never a traceback nor a photo dropped without a word; and photos that
decode large take their turn, so the memory of a run does not grow with the cores."""

from __future__ import annotations

import json
import os
import shutil
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from photo_tree import make_tree
from test_hangs_and_output import _deep_folder
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import DataError
from fmnist.evaluation.photo_set import list_photos, load_photos
from fmnist.runtime.image import LARGE_BYTES

runner = CliRunner()
LEFT_OUT = "warning: left out of the photo figures: "


def _hostile(pants: Path) -> list[str]:
    """Files named like photos that are not (a pipe, a device, a symlink loop) beside a real one; their names."""
    os.mkfifo(pants / "fifo.jpg")  # opened, it would block for ever
    (pants / "zero.jpg").symlink_to("/dev/zero")  # read, it never ends
    (pants / "loopa.jpg").symlink_to(pants / "loopb.jpg")
    (pants / "loopb.jpg").symlink_to(pants / "loopa.jpg")
    return ["fifo.jpg", "loopa.jpg", "loopb.jpg", "zero.jpg"]


def test_a_pipe_a_device_and_a_symlink_loop_are_each_a_line_with_classify_s_words(tmp_path):
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("pants",))
    names = _hostile(photos / "pants")
    got = load_photos(photos, use_cache=False)
    assert [p.name for p in got.paths] == ["0.jpg"]
    assert [p.name for p, _ in got.skipped] == names  # each one said, none dropped without a word
    classify = runner.invoke(app, ["classify", str(photos), "--model", "edge", "--json"])
    said = {Path(row["input"]).name: row["error"] for row in map(json.loads, classify.stdout.splitlines())
            if "error" in row}
    assert {p.name: why for p, why in got.skipped} == said  # classify's words, photo for photo
    assert "not a regular file" in said["fifo.jpg"] and "Too many levels of symbolic links" in said["loopa.jpg"]


def test_evaluate_says_a_folder_it_cannot_list_and_each_file_it_cannot_read_and_goes_on(tmp_path):
    """It was a 137-line traceback (OSError: File name too long) and silence for the pipe, the device and the loop."""
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("pants",))
    names = _hostile(photos / "pants")
    _deep_folder(photos / "pants")
    got = runner.invoke(app, ["evaluate", "--model", "edge", "--photos", str(photos), "--json"])
    assert got.exit_code == 0 and "Traceback" not in got.output, got.output
    assert json.loads(got.stdout)["photos"]["n"] == 1
    lines = got.stderr.splitlines()
    assert len(lines) == 1 + len(names) and all(line.startswith(LEFT_OUT) for line in lines)
    assert lines[0].startswith(f"{LEFT_OUT}cannot read a folder (File name too long), so nothing in it was read: "
                               f"{photos}/pants/00ddd")
    assert [line.split(": ")[-2].rsplit("/", 1)[-1] for line in lines[1:]] == names


def test_a_top_folder_that_cannot_be_listed_is_one_data_error(tmp_path):
    deep = _deep_folder(tmp_path).joinpath(*(f"{i:02d}" + "d" * 240 for i in range(18)))  # as it names them
    assert len(str(deep)) > 4096  # past PATH_MAX: no one, root included, can list it by its name
    with pytest.raises(DataError, match=r"cannot read the photo folder .* \(File name too long\)$") as raised:
        list_photos(deep)
    assert raised.value.exit_code == 3


@pytest.mark.slow  # about a second: four 70 MB decodes
def test_photos_that_decode_large_are_decoded_one_at_a_time(tmp_path):
    """Four 23 MP PNGs on four threads held up to four pictures at once (the review's 99 MP ones: 450 MB each)."""
    picture = np.full((2800, 8400, 3), 215, np.uint8)  # 70.6 MB decoded, over LARGE_BYTES
    cv2.rectangle(picture, (3000, 600), (5400, 2200), (40, 50, 60), -1)
    folder = tmp_path / "photos" / "pants"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "a.png"), picture, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    decoded = picture.nbytes
    assert decoded > LARGE_BYTES
    del picture
    for name in "bcd":
        shutil.copy(folder / "a.png", folder / f"{name}.png")
    tracemalloc.start()
    try:
        got = load_photos(tmp_path / "photos", workers=4, use_cache=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(got) == 4 and not got.skipped
    assert decoded < peak < 1.5 * decoded  # one picture at a time, where four threads held 2 to 4
