"""Labels given by eye: read from their CSV, they set each photo's strict answer, the figures per class, and what the
photo recipe teaches (fmnist.evaluation.photo_labels, photo_truth, fmnist.train.photo_targets)."""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from fmnist.core.errors import UsageError
from fmnist.evaluation.photo_figures import photo_figures
from fmnist.evaluation.photo_labels import COLUMNS, NONE, OTHER, UNKNOWN, UNLABELLED, PhotoLabels
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import PhotoSet
from fmnist.evaluation.photo_truth import NO_STRICT, photo_truth
from fmnist.evaluation.report import render_photos
from fmnist.train.photo_targets import MIN_CLASS_GROUP, SET, photo_groups, photo_targets

SANDAL, SHIRT, SNEAKER, TSHIRT, BOOT = 5, 6, 7, 0, 9
AA, BB, CC, ZZ = "a" * 64, "b" * 64, "c" * 64, "f" * 64  # sha256s as the label file gives them


def _write(path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = COLUMNS) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    return path


def _shoes_and_shirts() -> PhotoSet:
    """Six photos: four in shoes (Sneaker by eye, other, none, unlabelled), two in shirt (T-shirt/top by eye, and
    unlabelled)."""
    return PhotoSet(Path("photos"), ("shirt", "shoes"), np.zeros((6, 28, 28), np.uint8), np.array([1, 1, 1, 1, 0, 0]),
                    np.zeros(6, bool), [Path(f"{i}.jpg") for i in range(6)])


CODES = np.array([SNEAKER, OTHER, NONE, UNLABELLED, TSHIRT, UNLABELLED])


def test_the_label_file_gives_each_photo_its_code_by_sha256(tmp_path):
    labels = PhotoLabels.load(_write(tmp_path / "l.csv", [("shoes", "train", "a.jpg", AA, "Sneaker", ""),
                                                          ("shoes", "train", "b.jpg", BB, "other", "a pump"),
                                                          ("shirt", "validation", "c.jpg", CC, "none", "a bag")]))
    assert labels.of([BB, AA, ZZ, CC]).tolist() == [OTHER, SNEAKER, UNLABELLED, NONE]
    photo, renamed = tmp_path / "p.jpg", tmp_path / "copy.jpg"
    photo.write_bytes(b"the photo's bytes")
    renamed.write_bytes(photo.read_bytes())
    labels = PhotoLabels({hashlib.sha256(photo.read_bytes()).hexdigest(): BOOT}, "test")
    assert labels.of_files([renamed, tmp_path / "l.csv"]).tolist() == [BOOT, UNLABELLED]  # any copy, by content


def test_a_row_counts_only_in_its_own_folder_and_an_unknown_photo_of_a_labelled_folder_has_no_strict_answer(
        tmp_path):
    """A label by eye is given to a photo of a folder: under a photo map of your own (a folder `mine`), your folder
    keeps its labels. A shoe whose bytes the file does not know (a re-encoded copy) is UNKNOWN: its folder cannot
    say which shoe it is, so the strict figure leaves it out and says how many, instead of calling it a Sandal."""
    labels = PhotoLabels.load(_write(tmp_path / "l.csv", [("shoes", "train", "a.jpg", AA, "Sneaker", "")]))
    assert labels.of([AA, AA, ZZ, ZZ], ["shoes", "mine", "shoes", "mine"]).tolist() == [
        SNEAKER, UNLABELLED, UNKNOWN, UNLABELLED]
    photos = PhotoSet(Path("photos"), ("shoes",), np.zeros((2, 28, 28), np.uint8), np.array([0, 0]),
                      np.zeros(2, bool), [Path("a.jpg"), Path("copy.jpg")])
    truth = photo_truth(photos, PhotoMap.load(), labels.of([AA, ZZ], ["shoes", "shoes"]))
    assert truth.strict.tolist() == [SNEAKER, NO_STRICT] and truth.unknown == 1
    assert truth.accepted[1, [SANDAL, SNEAKER, BOOT]].all()  # lenient: still any shoe
    probs = np.full((2, 10), 0.01)
    probs[:, SANDAL] = 0.9
    figures = photo_figures(probs, photos, PhotoMap.load(), 0.5, truth)
    assert (figures.n_strict, figures.unknown_by_eye, figures.strict, figures.lenient) == (1, 1, 0.0, 1.0)
    assert "1 photos of folders labelled by eye are not in the label file" in _rendered(figures)


def _rendered(figures) -> str:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(*render_photos(figures))
    return " ".join(console.export_text().split())  # a caption wraps at the table's width


@pytest.mark.parametrize(("rows", "header", "says"), [
    ([("shoes", "train", "a.jpg", "aa", "Loafer", "")], COLUMNS, "line 2: unknown label 'Loafer'"),
    ([("shoes", "train", "a.jpg", "aa")], ("folder", "split", "file", "sha256"), "with the header"),
])
def test_a_bad_label_file_is_one_usage_error_naming_the_fault(tmp_path, rows, header, says):
    with pytest.raises(UsageError, match=says):
        PhotoLabels.load(_write(tmp_path / "bad.csv", rows, header))


def test_labels_by_eye_set_the_strict_answer_and_leave_out_what_has_none():
    truth = photo_truth(_shoes_and_shirts(), PhotoMap.load(), CODES)
    assert truth.strict.tolist() == [SNEAKER, NO_STRICT, NO_STRICT, SANDAL, TSHIRT, SHIRT]
    assert truth.mapped.tolist() == [True, True, False, True, True, True]  # `none`: "not sure" is right
    assert truth.accepted[0, [SANDAL, SNEAKER, BOOT]].all()  # lenient still forgives another shoe


def test_figures_count_strict_per_class_by_eye():
    photos, pmap = _shoes_and_shirts(), PhotoMap.load()
    probs = np.full((6, 10), 0.01)
    probs[np.arange(6), [SANDAL, SANDAL, SANDAL, SANDAL, TSHIRT, TSHIRT]] = 0.91  # every shoe "Sandal"
    figures = photo_figures(probs, photos, pmap, 0.5, photo_truth(photos, pmap, CODES))
    assert figures.per_class["Sneaker"] == {"n": 1, "strict": 0.0}
    assert figures.per_class["Sandal"] == {"n": 1, "strict": 1.0}  # the unlabelled shoe keeps the folder's first
    assert figures.per_class["T-shirt/top"] == {"n": 1, "strict": 1.0}
    assert figures.per_class["Shirt"] == {"n": 1, "strict": 0.0}
    assert figures.strict == 0.5 and figures.lenient == 1.0  # 2 of 4 strict; every mapped answer lenient-right
    without = photo_figures(probs, photos, pmap, 0.5)  # the folders alone: every shoe counts Sandal as strict
    assert without.per_class["Sandal"]["n"] == 4 and without.strict == round(4 / 6, 4)


def test_the_recipe_teaches_the_class_by_eye_the_set_for_other_and_unsure_for_none():
    targets = photo_targets(_shoes_and_shirts(), PhotoMap.load(), CODES)
    assert targets[0, :10].tolist() == np.eye(10)[SNEAKER].tolist() and targets[0, SET] == 1
    assert np.allclose(targets[1, [SANDAL, SNEAKER, BOOT]], 1 / 3) and targets[1, SET] == 1  # no pull to Sandal
    assert np.allclose(targets[2, :10], 0.1) and targets[2, SET] == 0  # uniform: "unsure"
    assert targets[3, SANDAL] == 0.5  # unlabelled: the folder's candidate set, pulled to its first label
    assert targets[4, :10].tolist() == np.eye(10)[TSHIRT].tolist()
def test_the_project_labels_load_and_use_only_the_vocabulary():
    labels = PhotoLabels.load()
    assert len(labels.codes) >= 250 and set(labels.codes.values()) <= {*range(10), OTHER, NONE}




def test_shoes_labelled_by_eye_are_drawn_as_a_group_a_class():
    """Enough photos of two or more of a folder's own labels split it into a group each; the rest stay together, and
    a folder with one such label (or no labels) keeps its group."""
    n = 3 * MIN_CLASS_GROUP + 5
    folder_index = np.array([0] * n + [1] * MIN_CLASS_GROUP)
    codes = np.array([SANDAL] * MIN_CLASS_GROUP + [SNEAKER] * MIN_CLASS_GROUP + [BOOT] * (MIN_CLASS_GROUP - 1)
                     + [OTHER] * 6 + [SHIRT] * MIN_CLASS_GROUP)
    photos = PhotoSet(Path("photos"), ("shoes", "shirt"), np.zeros((len(codes), 28, 28), np.uint8), folder_index,
                      np.zeros(len(codes), bool), [Path(f"{i}.jpg") for i in range(len(codes))])
    groups = photo_groups(photos, PhotoMap.load(), codes)
    sandal, sneaker = groups[0], groups[MIN_CLASS_GROUP]
    assert len({sandal, sneaker, 0, 1}) == 4  # two groups of their own beside the two folders
    assert (groups[:MIN_CLASS_GROUP] == sandal).all() and (groups[MIN_CLASS_GROUP:2 * MIN_CLASS_GROUP] == sneaker).all()
    assert (groups[2 * MIN_CLASS_GROUP:n] == 0).all()  # too few boots, and the other shoes: the folder's group
    assert (groups[n:] == 1).all()  # shirt: one label by eye, one group
    assert (photo_groups(photos, PhotoMap.load()) == folder_index).all()


def test_evaluate_s_report_shows_strict_per_class():
    photos, pmap = _shoes_and_shirts(), PhotoMap.load()
    probs = np.full((6, 10), 0.01)
    probs[np.arange(6), [SANDAL, SANDAL, SANDAL, SANDAL, TSHIRT, SHIRT]] = 0.91  # the sneaker called Sandal
    out = io.StringIO()
    Console(file=out, width=120).print(*render_photos(photo_figures(probs, photos, pmap, 0.5,
                                                                    photo_truth(photos, pmap, CODES))))
    rows = {line.split("│")[1].strip(): line.split("│")[3].strip() for line in out.getvalue().splitlines()
            if line.count("│") == 4}
    assert rows["Sneaker"] == "0.0%" and rows["Shirt"] == "100.0%" and rows["Sandal"] == "100.0%"
