"""Classification metrics (numpy only) and their terminal rendering (Rich).

One report shape for every format (.keras now, .onnx/.tflite from export):
{"accuracy", "per_class": {name: {precision, recall, f1, support}}, "confusion": [[...]]}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fmnist.core.errors import escaped
from fmnist.core.meta import CLASS_NAMES
from fmnist.evaluation.photo_figures import PhotoFigures


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts; row = true class, column = predicted class."""
    return np.bincount(labels.astype(np.int64) * classes + predicted, minlength=classes**2).reshape(classes, classes)


def classification_report(labels: np.ndarray, probs: np.ndarray,
                          names: list[str] | tuple[str, ...] = CLASS_NAMES) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix of (N, classes) probabilities."""
    predicted = probs.argmax(axis=1)
    cm = confusion_matrix(labels, predicted, len(names))
    tp = np.diag(cm).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(tp / cm.sum(axis=0))
        recall = np.nan_to_num(tp / cm.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    per_class = {
        name: {
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(cm[i].sum()),
        }
        for i, name in enumerate(names)
    }
    return {
        "accuracy": round(float(tp.sum() / len(labels)), 4),
        "n": len(labels),
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def render(report: dict[str, Any], title: str) -> list[Any]:
    """Rich tables for the terminal: the per-class table, the confusion matrix, and the photo figures when the
    report has them (labels and titles shown as written: Rich markup in them is escaped)."""
    from rich.markup import escape
    from rich.table import Table

    what = report.get("data", "test images")
    per_class = Table(title=escape(f"{title}: accuracy {report['accuracy']:.2%} on {report['n']} {what}"))
    for column in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for name, row in report["per_class"].items():
        per_class.add_row(escape(name), f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                          str(row["support"]))

    confusion = Table(title="confusion matrix (rows: true, columns: predicted)")
    confusion.add_column("true \\ pred")
    names = list(report["per_class"])
    for i in range(len(names)):
        confusion.add_column(str(i), justify="right")
    for i, row in enumerate(report["confusion"]):
        cells = (f"[bold]{v}[/]" if j == i else str(v) for j, v in enumerate(row))
        confusion.add_row(escape(f"{i} {names[i]}"), *cells)
    photos = render_photos(PhotoFigures.from_json(report["photos"])) if "photos" in report else []
    return [per_class, confusion, *photos]


def render_photos(figures: PhotoFigures) -> list[Any]:
    """The photo figures as a Rich table: one row per folder, then the summary line (names escaped: a folder's
    name can neither forge a line nor drive the terminal)."""
    if _one_label_a_folder(figures):
        return [_own_table(figures)]
    from rich.markup import escape
    from rich.table import Table

    out = Table(title=escape(f"real photos in {escaped(figures.photos)}: {_overall(figures)}"),
                caption=f"'not sure' below {figures.threshold:.2f} (or no object found): answers "
                        f"{figures.coverage:.1%} of mapped photos, {figures.answered_lenient:.1%} of them "
                        f"right; unsure on {figures.unsure_unmapped:.1%} of photos with no class"
                        + (f". {figures.unknown_by_eye} photos of folders labelled by eye are not in the label file "
                           "(a re-encoded copy?): left out of strict" if figures.unknown_by_eye else ""))
    for column in ("folder", "photos", "strict (of)", "lenient", "not sure"):
        out.add_column(column, justify="left" if column == "folder" else "right")
    for name, row in figures.per_folder.items():
        of = f" ({row['n_strict']})" if "n_strict" in row and row["n_strict"] != row["n"] else ""
        scores = (f"{row['strict']:.1%}{of}", f"{row['lenient']:.1%}") if row["mapped"] else ("no class", "")
        out.add_row(escape(escaped(name)), str(row["n"]), *scores, f"{row['unsure']:.1%}")
    return [out, *_per_class_table(figures)]


def _one_label_a_folder(figures: PhotoFigures) -> bool:
    """Every folder is one label (a model of your own classes on its photos): strict and lenient are one figure,
    and there is no folder without a class."""
    rows = figures.per_folder.values()
    return bool(rows) and all(row["mapped"] and row.get("strict") == row.get("lenient") for row in rows)


def _own_table(figures: PhotoFigures) -> Any:
    """The photo figures where each folder is its label: right and 'not sure' per folder."""
    from rich.markup import escape
    from rich.table import Table

    out = Table(title=escape(f"real photos in {escaped(figures.photos)}: {figures.lenient:.1%} right of "
                             f"{figures.n_mapped}; mean over folders {figures.mean_lenient:.1%}"),
                caption=f"'not sure' below {figures.threshold:.2f} (or no object found): answers "
                        f"{figures.coverage:.1%} of the photos, {figures.answered_lenient:.1%} of them right")
    for column in ("folder", "photos", "right", "not sure"):
        out.add_column(column, justify="left" if column == "folder" else "right")
    for name, row in figures.per_folder.items():
        out.add_row(escape(escaped(name)), str(row["n"]), f"{row['lenient']:.1%}", f"{row['unsure']:.1%}")
    return out


def _overall(figures: PhotoFigures) -> str:
    """Strict and lenient, each over its own photos, and both means over the folders."""
    strict_of = f" of {figures.n_strict} with one answer" if figures.n_strict else ""
    return (f"strict {figures.strict:.1%}{strict_of}, lenient {figures.lenient:.1%} of {figures.n_mapped} mapped "
            f"photos; mean over folders {figures.mean_strict:.1%} strict, {figures.mean_lenient:.1%} lenient")


def _per_class_table(figures: PhotoFigures) -> list[Any]:
    """Strict accuracy per class: the photos whose strict answer is that class (by eye where they are labelled:
    footwear by class, a button-down shirt as Shirt); nothing for a run card written before these figures."""
    from rich.markup import escape
    from rich.table import Table

    if not figures.per_class:
        return []
    out = Table(title="strict per class (the photos whose answer is that class; labels by eye where there are some)")
    for column in ("class", "photos", "strict"):
        out.add_column(column, justify="left" if column == "class" else "right")
    for name, row in figures.per_class.items():
        out.add_row(escape(escaped(name)), str(row["n"]), f"{row['strict']:.1%}")
    return [out]
