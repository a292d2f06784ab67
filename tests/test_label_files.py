"""The label file and the scripts that make labels by eye and score live refuse bad input with one `error:` line,
before anything is written: PhotoLabels.load, scripts/photo_labels.py, contact_sheet.py, score_live.py and
scene_sequences.py. docs/reliability.md maps each case to its test here."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from fmnist.core.errors import UsageError
from fmnist.core.meta import CLASS_NAMES
from fmnist.evaluation.photo_labels import COLUMNS, NONE, OTHER, PhotoLabels
from scripts import contact_sheet, photo_labels, scene_sequences, score_live

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "fmnist" / "assets" / "photo_labels.csv"
HEADER = ",".join(COLUMNS)
A, B, C = "a" * 64, "b" * 64, "c" * 64
SNEAKER = CLASS_NAMES.index("Sneaker")


def _labels(tmp_path: Path, *lines: str, raw: bytes | None = None) -> Path:
    path = tmp_path / "labels.csv"
    path.write_bytes(raw if raw is not None else ("\n".join(lines) + "\n").encode())
    return path


def _refused(path: Path) -> str:
    with pytest.raises(UsageError) as e:
        PhotoLabels.load(path)
    assert "\n" not in str(e.value)
    return str(e.value)


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The script's stderr, which must be one `error:` line, and nothing on stdout."""
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    return err


# --- PhotoLabels.load -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("second", [f"shoes,train,b.jpg,{A},Sneaker,", f"shoes,train,b.jpg,{A},Sandal,"])
def test_a_photo_given_two_rows_by_its_sha256_is_refused_naming_both_lines(tmp_path, second):
    """Twice the same label or two labels: either way one of the rows is stale, and which one counts would depend on
    the order of the file."""
    said = _refused(_labels(tmp_path, HEADER, f"shoes,train,a.jpg,{A},Sneaker,", f"shirt,train,c.jpg,{C},Shirt,",
                            second))
    assert re.search(r"labels\.csv, line 2 and .*labels\.csv, line 4: the same photo \(sha256 a{12}…\) twice", said)


def test_a_photo_given_two_rows_by_its_place_is_refused(tmp_path):
    said = _refused(_labels(tmp_path, HEADER, f"shoes,train,a.jpg,{A},Sneaker,", f"shoes,train,a.jpg,{B},Sandal,"))
    assert "line 2 and" in said and "line 3: two rows for shoes/train/a.jpg" in said


@pytest.mark.parametrize("digest", ["", "a" * 63, "A" * 64, "g" * 64, "a" * 65, " " + "a" * 63])
def test_a_sha256_that_is_not_64_lowercase_hex_digits_is_refused(tmp_path, digest):
    said = _refused(_labels(tmp_path, HEADER, f"shoes,train,a.jpg,{B},Sandal,", f"shoes,train,b.jpg,{digest},Sneaker,"))
    assert "line 3: sha256" in said and "is not 64 lowercase hex digits" in said


@pytest.mark.parametrize(("row", "fields"), [(f"shoes,train,b.jpg,{B},Sneaker,,extra", 7),
                                             (f"shoes,train,b.jpg,{B},Sneaker", 5),
                                             (f"shoes,train,b.jpg,{B},Sneaker,a note, with a comma", 7)])
def test_a_row_with_a_field_too_many_or_too_few_is_refused_naming_its_line(tmp_path, row, fields):
    said = _refused(_labels(tmp_path, HEADER, f"shoes,train,a.jpg,{A},Sandal,", row))
    assert f"labels.csv, line 3: {fields} fields, not 6" in said and "header" not in said


def test_the_line_named_is_where_the_row_starts_and_blank_lines_count(tmp_path):
    said = _refused(_labels(tmp_path, HEADER, f'shoes,train,a.jpg,{A},Sandal,"a note', 'on two lines"', "",
                            f"shoes,train,b.jpg,{B},Loafer,"))
    assert "labels.csv, line 5: unknown label 'Loafer'" in said


def test_a_header_alone_is_refused_it_would_label_nothing(tmp_path):
    """Chosen over "a valid empty file": no row would leave every shoe to its folder's first label (strict
    "Sandal"), the silent answer the labels exist to prevent, and a header alone is what a writer that failed
    half-way leaves."""
    assert "header and no rows labels nothing" in _refused(_labels(tmp_path, HEADER))
    assert "with the header folder,split,file,sha256,label,note" in _refused(_labels(tmp_path, raw=b""))


def test_a_utf8_bom_is_read_as_utf8(tmp_path):
    labels = PhotoLabels.load(_labels(tmp_path, raw=f"\ufeff{HEADER}\nshoes,train,a.jpg,{A},Sneaker,é\n".encode()))
    assert labels.of([A]).tolist() == [SNEAKER]


def test_bytes_that_are_not_utf8_are_one_error_naming_the_file_and_line(tmp_path):
    raw = f"{HEADER}\nshoes,train,a.jpg,{A},Sneaker,\nshoes,train,b.jpg,{B},other,caf\xe9\n".encode("latin-1")
    said = _refused(_labels(tmp_path, raw=raw))
    assert "labels.csv, line 3: not UTF-8 text (byte 0xe9); save the file as UTF-8" in said


@pytest.mark.parametrize("row", [f'shoes,train,a.jpg,{A},Sneaker,"unclosed', f'shoes,train,a.jpg,{A},Sneaker,"a"b'])
def test_bad_quoting_is_one_error_naming_the_line(tmp_path, row):
    assert "labels.csv, line 2: not valid CSV" in _refused(_labels(tmp_path, HEADER, row))


def test_a_missing_label_file_is_one_error(tmp_path):
    assert "cannot read" in _refused(tmp_path / "nope.csv") and "No such file" in _refused(tmp_path / "nope.csv")


def test_the_shipped_label_file_is_strictly_well_formed():
    """Read as plain CSV, apart from the loader: six fields a row, one row a photo by sha256 and by place, every
    sha256 as sha256sum prints it, every label a class, other or none; and the loader gives every row its code."""
    with SHIPPED.open(newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    assert tuple(header) == COLUMNS and len(rows) >= 1000
    assert all(len(r) == 6 for r in rows)
    assert all(re.fullmatch("[0-9a-f]{64}", r[3]) for r in rows)
    assert not [d for d, n in Counter(r[3] for r in rows).items() if n > 1]
    assert not [p for p, n in Counter(tuple(r[:3]) for r in rows).items() if n > 1]
    assert {r[4] for r in rows} <= {*CLASS_NAMES, "other", "none"}
    assert {r[1] for r in rows} == {"train", "validation"}
    labels = PhotoLabels.load()
    assert len(labels.codes) == len(rows)
    assert [labels.codes[r[3]] for r in rows] == [
        {"other": OTHER, "none": NONE}.get(r[4], CLASS_NAMES.index(r[4]) if r[4] in CLASS_NAMES else None)
        for r in rows]


# --- scripts/photo_labels.py -----------------------------------------------------------------------------------

@pytest.fixture
def photo_set(tmp_path: Path) -> Path:
    """photos/{train,validation}/{shoes,shirt}/: a few files of distinct bytes (the script reads only their sha256)."""
    for split, folder, name in [("train", "shoes", "a.jpg"), ("train", "shoes", "b.jpg"),
                                ("validation", "shoes", "c.jpg"), ("train", "shirt", "d.jpg")]:
        photo = tmp_path / "photos" / split / folder / name
        photo.parent.mkdir(parents=True, exist_ok=True)
        photo.write_bytes(f"{split}/{folder}/{name}".encode())
    return tmp_path / "photos"


def _sheet(folder: Path, name: str, *rows: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("\n".join(["split,file,label,note", *rows]) + "\n")
    return folder / name


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_labels(*args: object) -> int:
    return photo_labels.main([str(a) for a in args])


def test_photo_labels_writes_the_file_given_that_the_loader_reads(tmp_path, photo_set, capsys):
    shoes = _sheet(tmp_path / "sheets", "shoes.csv", "train,a.jpg,Sneaker,", "train,b.jpg,not shoes,a bag",
                   "validation,c.jpg,Ankle boot,\"tall, laced\"")
    out = tmp_path / "labels.csv"
    assert _run_labels(shoes, "--photos", photo_set, "--out", out) == 0
    assert capsys.readouterr().out == f"wrote {out}: 3 photos in 1 folders\n"
    labels = PhotoLabels.load(out)
    digests = [_sha(photo_set / p) for p in ("train/shoes/a.jpg", "train/shoes/b.jpg", "validation/shoes/c.jpg")]
    assert labels.of(digests).tolist() == [SNEAKER, NONE, CLASS_NAMES.index("Ankle boot")]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def _with_rows(tmp_path: Path, photo_set: Path) -> tuple[Path, bytes]:
    """A label file with three shoe rows and a shirt row, as the script wrote it."""
    out = tmp_path / "labels.csv"
    _run_labels(_sheet(tmp_path / "all", "shoes.csv", "train,a.jpg,Sneaker,", "train,b.jpg,Sandal,",
                       "validation,c.jpg,other,a pump"),
                _sheet(tmp_path / "all", "shirt.csv", "train,d.jpg,Shirt,"), "--photos", photo_set, "--out", out)
    return out, out.read_bytes()


def test_a_sheet_that_would_drop_rows_is_refused_unless_asked(tmp_path, photo_set, capsys):
    """A sheet of one split (or some rows) of a folder replaced all its rows: the others went without a word."""
    out, before = _with_rows(tmp_path, photo_set)
    capsys.readouterr()
    partial = _sheet(tmp_path / "some", "shoes.csv", "train,a.jpg,Ankle boot,")
    assert _run_labels(partial, "--photos", photo_set, "--out", out) == 2
    err = _one_error(capsys)
    assert "2 rows of" in err and "would be dropped" in err and "train/shoes" not in err and "--drop-unlisted" in err
    assert out.read_bytes() == before
    assert _run_labels(partial, "--photos", photo_set, "--out", out, "--drop-unlisted") == 0
    with out.open(newline="") as f:
        assert [(r["folder"], r["file"], r["label"]) for r in csv.DictReader(f)] == [
            ("shirt", "d.jpg", "Shirt"), ("shoes", "a.jpg", "Ankle boot")]  # the other folder's row kept


@pytest.mark.parametrize(("rows", "says"), [
    (["train,a.jpg,Sneaker,", "train,gone.jpg,Sandal,"], r"shoes\.csv, line 3: no photo .*train/shoes/gone\.jpg"),
    (["train,a.jpg,Loafer,"], r"shoes\.csv, line 2: unknown label 'Loafer'"),
    (["train,a.jpg,Sneaker,", "train,a.jpg,Sandal,"], r"shoes\.csv, line 2 and .*shoes\.csv, line 3: the same photo"),
    (["train,../shirt/d.jpg,Sneaker,"], r"line 2: 'train/shoes/\.\./shirt/d\.jpg' is not a split, a folder and a"),
    (["train,a.jpg,Sneaker"], r"shoes\.csv, line 2: 3 fields, not 4"),
])
def test_a_bad_sheet_row_is_one_error_and_the_file_is_untouched(tmp_path, photo_set, capsys, rows, says):
    out, before = _with_rows(tmp_path, photo_set)
    capsys.readouterr()
    assert _run_labels(_sheet(tmp_path / "bad", "shoes.csv", *rows), "--photos", photo_set, "--out", out) == 2
    assert re.search(says, _one_error(capsys))
    assert out.read_bytes() == before


def test_a_missing_sheet_or_a_kept_row_whose_photo_is_gone_is_one_error(tmp_path, photo_set, capsys):
    out, before = _with_rows(tmp_path, photo_set)
    capsys.readouterr()
    assert _run_labels(tmp_path / "nope.csv", "--photos", photo_set, "--out", out) == 2
    assert "cannot read" in _one_error(capsys) and out.read_bytes() == before
    (photo_set / "train" / "shirt" / "d.jpg").unlink()  # the shirt row stays, but its photo is not in the set
    shoes = _sheet(tmp_path / "again", "shoes.csv", "train,a.jpg,Sneaker,", "train,b.jpg,Sandal,",
                   "validation,c.jpg,other,")
    assert _run_labels(shoes, "--photos", photo_set, "--out", out) == 2
    assert re.search(r"labels\.csv, line 2: no photo .*train/shirt/d\.jpg", _one_error(capsys))
    assert out.read_bytes() == before


def test_photo_labels_writes_the_asset_by_default():
    assert SHIPPED.resolve() == photo_labels.ASSET  # --out is the asset unless given


# --- scripts/contact_sheet.py ----------------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(5):
        cv2.imwrite(str(photos / f"p{i}.png"), np.full((30, 20 + i, 3), 40 * i, np.uint8))
    return photos


def _sheets(*args: object) -> int:
    return contact_sheet.main([str(a) for a in args])


def test_contact_sheets_and_their_index(tmp_path, folder, capsys):
    out = tmp_path / "out"
    assert _sheets(folder, out, "--per", 2) == 0 and "5 photos -> 3 sheets" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["index.csv", "sheet-01.png", "sheet-02.png", "sheet-03.png"]
    assert out.joinpath("index.csv").read_text().splitlines()[1:] == [f"{i},p{i}.png" for i in range(5)]
    assert _sheets(folder, out) == 0  # an earlier run's sheets are replaced: one sheet now
    assert sorted(p.name for p in out.iterdir()) == ["index.csv", "sheet-01.png"]
    assert cv2.imread(str(out / "sheet-01.png")).shape == (152, 8 * 152, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "photos"]  # nothing left beside it


@pytest.mark.parametrize(("which", "per", "says"), [
    ("missing", 64, "is not there"), ("file", 64, "is a file, not a folder"), ("photos", 0, "--per 0"),
    ("photos", -3, "--per -3"), ("empty", 64, "holds no photos")])
def test_contact_sheet_refuses_bad_arguments_before_writing(tmp_path, folder, capsys, which, per, says):
    (tmp_path / "empty").mkdir()
    given = {"missing": tmp_path / "nope", "file": folder / "p0.png", "photos": folder, "empty": tmp_path / "empty"}
    assert _sheets(given[which], tmp_path / "out", "--per", per) == 2
    assert says in _one_error(capsys) and not (tmp_path / "out").exists()


def test_a_file_that_is_no_image_leaves_out_as_it_was(tmp_path, folder, capsys):
    out = tmp_path / "out"
    assert _sheets(folder, out, "--per", 2) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    (folder / "notes.txt").write_text("not a photo")
    (folder / ".hidden").write_text("skipped, as hidden files are")
    assert _sheets(folder, out, "--per", 4) == 1
    assert "notes.txt: not an image" in _one_error(capsys)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "photos"]


def test_contact_sheet_never_replaces_a_folder_of_other_files(tmp_path, folder, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "index.csv").write_text("my own index\n")
    (out / "thesis.tex").write_text("precious")
    assert _sheets(folder, out) == 2 and "holds thesis.tex" in _one_error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["index.csv", "thesis.tex"]
    assert (out / "index.csv").read_text() == "my own index\n"
    (tmp_path / "afile").write_text("x")
    assert _sheets(folder, tmp_path / "afile") == 2 and "is not a folder" in _one_error(capsys)
    assert (tmp_path / "afile").read_text() == "x"


# --- scripts/score_live.py and scene_sequences.py --------------------------------------------------------------

def _score(*args: object) -> int:
    return score_live.main([str(a) for a in args])


def _video(path: Path, frames: int = 4) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for _ in range(frames):
        writer.write(np.full((48, 64, 3), 200, np.uint8))
    writer.release()
    path.with_suffix(".truth.json").write_text(json.dumps([None] * frames))
    return path


def test_score_live_refuses_a_missing_video_or_truth_track(tmp_path, capsys):
    assert _score(tmp_path / "nope.avi") == 2 and "nope.avi: no such video" in _one_error(capsys)
    video = _video(tmp_path / "v.avi")
    video.with_suffix(".truth.json").unlink()
    assert _score(video) == 2 and "no truth track v.truth.json beside it" in _one_error(capsys)
    for bad in ("{}", "[1, 10]", "[true]", "[]", "not json"):
        video.with_suffix(".truth.json").write_text(bad)
        assert _score(video) == 2 and "v.truth.json: " in _one_error(capsys)
    assert _score(_video(tmp_path / "w.avi"), "--settle", -1) == 2 and "--settle -1" in _one_error(capsys)


@pytest.mark.slow
def test_score_live_passes_on_lives_own_error_line(tmp_path, capsys):
    """`fmnist live` runs in its own process: its refusal was a CalledProcessError and a traceback."""
    video = _video(tmp_path / "v.avi")
    assert _score(video, "--model", "nosuch") == 4
    assert "fmnist live on" in (err := _one_error(capsys)) and "--model nosuch: no such file" in err
    video.write_bytes(b"not a video at all")
    assert _score(video) == 1
    assert "exists, but OpenCV cannot decode it" in _one_error(capsys)


@pytest.mark.slow
def test_score_live_scores_a_tiny_video(tmp_path, capsys):
    assert _score(_video(tmp_path / "v.avi", 12), "--model", "edge", "--settle", 0) == 0
    line = capsys.readouterr().out
    assert line.startswith("v.avi (edge): 12 frames, right 0.0%") and "ms p50" in line


@pytest.mark.parametrize(("args", "says"), [(["--hold", 0, "--blank", 0], "give --hold 1 or more"),
                                            (["--blank", -1], "--blank -1"), (["--fps", 0], "--fps 0.0"),
                                            (["--fps", "nan"], "--fps nan"), (["--per-class", 0], "--per-class 0"),
                                            (["--per-class", 101], "give 1 to 100 products")])
def test_scene_sequences_refuses_settings_that_make_no_video(tmp_path, capsys, args, says):
    out = tmp_path / "seq"
    assert scene_sequences.main([str(out), *map(str, args)]) == 2
    assert says in _one_error(capsys) and not out.exists()


def test_scene_sequences_shows_per_class_products_of_each_class_the_default_four_first():
    images, labels = scene_sequences.products(7)
    assert images.shape == (70, 28, 28) and np.bincount(labels).tolist() == [7] * 10
    four, _ = scene_sequences.products()
    assert np.array_equal(images[labels == 3][:4], four[12:16])  # class 3's first four, as the default shows
    assert len(np.unique(images.reshape(70, -1), axis=0)) == 70


def test_scene_sequences_refuses_an_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "seq").write_text("mine")
    assert scene_sequences.main([str(tmp_path / "seq")]) == 2
    assert "seq: a file, not a folder" in _one_error(capsys) and (tmp_path / "seq").read_text() == "mine"
