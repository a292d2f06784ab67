"""A path or a folder's name in the text output of info, evaluate and bench is escaped (fmnist.core.errors.escaped):
a newline cannot forge a line, ESC cannot drive the terminal, and Rich markup in a name is shown as written.
`info cc/m*.onnx` put a raw newline and ESC[2J from the file name into its title line."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from crafted import meta_text, model
from rich.console import Console
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.evaluation.photo_figures import PhotoFigures
from fmnist.evaluation.report import render_photos

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photos" / "pants.jpg"
FOLDER = "run\x1b[2J["  # with the file's name, 'run\x1b[2J[/b]m\nodel.onnx': ESC, a newline and a closing tag
NAME = "b]m\nodel.onnx"
SHOWN = "run\\x1b[2J[/b]m\\nodel.onnx"
runner = CliRunner()


@pytest.fixture
def own_model(tmp_path) -> Path:
    """A two-label model and its run's held-out photos, under a name that holds ESC, a newline and markup."""
    run = tmp_path / FOLDER
    run.mkdir()
    path = model(run / NAME, meta_text(labels=["mug", "cup"]), width=2)
    images = np.zeros((4, 28, 28), np.uint8)
    np.savez_compressed(run / "own_data.npz", heldout_images=images, heldout_labels=np.array([0, 1, 0, 1]),
                        heldout_empty=np.zeros(4, bool), calib_images=images)
    return path


def clean(text: str) -> None:
    assert "\x1b" not in text and "\nodel" not in text and "Traceback" not in text


def test_info_escapes_the_model_s_name_in_its_title(own_model):
    got = runner.invoke(app, ["info", "--model", str(own_model)])
    assert got.exit_code == 0, got.output
    clean(got.stdout)
    words = "".join(got.stdout.split())  # the title wraps at the console's width (a long temporary folder)
    assert "".join(f"{own_model.parent.parent}/{SHOWN} (fp32)".split()) in words
    assert "2 labels (its own): 0 mug, 1 cup" in got.stdout.splitlines()


def test_evaluate_escapes_the_model_s_name_and_the_photo_folder(own_model, tmp_path):
    photos = tmp_path / "photos\x1b[31m"
    for label in ("mug", "cup"):
        (photos / label).mkdir(parents=True)
        shutil.copy(PHOTO, photos / label / "a.jpg")
    got = runner.invoke(app, ["evaluate", "--model", str(own_model), "--photos", str(photos)])
    assert got.exit_code == 0, got.output
    clean(got.stdout)
    words = "".join(got.stdout.split())  # the titles wrap to the tables' width
    assert f"{SHOWN}:accuracy50.00%on4held-outphotos" in words and "photos\\x1b[31m:" in words


def test_bench_escapes_the_model_s_name_in_its_progress_table_and_advice(own_model):
    """A name holding '[/b]' was a MarkupError traceback once the timing was done."""
    got = runner.invoke(app, ["bench", "--model", str(own_model), "--threads", "1", "--batch-size", "1",
                              "--iterations", "10", "--rounds", "1"])
    assert got.exit_code == 0, got.output
    clean(got.stdout)
    clean(got.stderr)
    assert f"accuracy of {own_model.parent.parent}/{SHOWN}" in got.stderr
    assert "run\\x1b[2J[/b]m\\nod" in got.stdout  # the table's cell (cut to its width)
    assert f"advice: deploy {SHOWN} with 1 thread(s)" in got.stdout


def test_the_photo_table_escapes_each_folder_s_name():
    """A Fashion-MNIST model's photo folders need not be labels: any folder's name reaches the table."""
    figures = PhotoFigures(photos="p\nhotos", n=2, n_mapped=1, threshold=0.5, strict=1.0, lenient=1.0, mean_strict=1.0,
                           mean_lenient=1.0, coverage=1.0, answered_lenient=1.0, unsure_unmapped=0.0, empty=0,
                           per_folder={"dress": {"n": 1, "mapped": True, "unsure": 0.0, "strict": 1.0, "lenient": 1.0},
                                       "x\x1b[2J\nfake [/b]": {"n": 1, "mapped": False, "unsure": 0.0}},
                           per_class={"Dress": {"n": 1, "strict": 1.0}},
                           confusion={})
    out = io.StringIO()
    Console(file=out, width=200).print(*render_photos(figures))
    shown = out.getvalue()
    assert "\x1b" not in shown and "\nfake" not in shown and "\nhotos" not in shown
    assert "real photos in p\\nhotos: strict" in shown and "x\\x1b[2J\\nfake [/b]" in shown


def test_photos_where_each_folder_is_its_label_get_one_figure_and_no_fashion_mnist_terms():
    """A model of your own classes on its photos: strict and lenient are one figure, no folder lacks a class."""
    row = {"n": 4, "mapped": True, "unsure": 0.25, "strict": 0.75, "lenient": 0.75}
    figures = PhotoFigures(photos="mine", n=8, n_mapped=8, threshold=0.3, strict=0.75, lenient=0.75,
                           mean_strict=0.75, mean_lenient=0.75, coverage=0.75, answered_lenient=1.0,
                           unsure_unmapped=0.0, empty=0, per_folder={"mug\x1b": row, "cup": row},
                           per_class={"mug": {"n": 4, "strict": 0.75}}, confusion={})
    out = io.StringIO()
    Console(file=out, width=200).print(*render_photos(figures))
    shown = " ".join(out.getvalue().split())  # the title and caption wrap to the table's width
    assert "real photos in mine: 75.0% right of 8; mean over folders 75.0%" in shown and "mug\\x1b" in shown
    assert "answers 75.0% of the photos, 100.0% of them right" in shown
    assert not any(word in shown for word in ("lenient", "strict", "mapped", "no class", "by eye"))


def test_export_s_parity_table_shows_the_model_s_path_as_written():
    """A run folder named 'a[/b/c]' was a MarkupError traceback after the files were written; ESC and a newline
    reached the terminal."""
    from fmnist.export.parity import ParityReport, markdown, table

    report = ParityReport(source=f"{FOLDER}/{NAME}", source_sha256="0" * 64, n_test=2, created="2026-12-07",
                          data="held-out photos", labels=["mug", "cup"], reference_accuracy=0.5,
                          fmnist_version="0", command="fmnist export", files=[], calibration={})
    out = io.StringIO()
    Console(file=out, width=300).print(table(report))
    clean(out.getvalue())
    assert f"Parity against {SHOWN}: Keras accuracy 50.00% on 2 held-out photos" in out.getvalue()
    assert markdown(report).splitlines()[0] == f"# Parity against {SHOWN}: Keras accuracy 50.00% on 2 held-out photos"
