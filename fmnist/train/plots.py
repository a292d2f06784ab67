"""The run folder's figures: learning curves, confusion matrix, sample grid, misclassified grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.atomic import Output, writing
from fmnist.core.errors import needs_train_extra
from fmnist.core.meta import CLASS_NAMES
from fmnist.evaluation.photo_figures import PhotoFigures


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise needs_train_extra("matplotlib") from e
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path | Output) -> None:
    """A path is written over an earlier file (atomically); an Output by its own rule: a run folder's or an export's
    file only over one fmnist wrote (fmnist.core.owned), bench's plot only under a free name (NewFile)."""
    with writing(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    fig.clf()
    pyplot().close(fig)


def curves(history: dict[str, list[float]], path: Path | Output) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        epochs = np.arange(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], "o-", label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "o-", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)


def confusion(cm: list[list[int]], path: Path | Output) -> None:
    plt = pyplot()
    matrix = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = np.arange(len(CLASS_NAMES))
    ax.set_xticks(ticks, CLASS_NAMES, rotation=45, ha="right")
    ax.set_yticks(ticks, CLASS_NAMES)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (test set)")
    for i, j in np.ndindex(matrix.shape):
        colour = "white" if matrix[i, j] > matrix.max() / 2 else "black"
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=colour)
    save_figure(fig, path)


def photo_confusion(figures: PhotoFigures, path: Path | Output) -> None:
    """Photo folders (rows, with their lenient accuracy) against the decision: a label or "not sure"."""
    plt = pyplot()
    cm = figures.confusion
    matrix = np.asarray(cm["counts"])
    shares = matrix / np.maximum(1, matrix.sum(axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(8.5, 0.5 * len(cm["rows"]) + 2.5))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    rows = [f"{name} ({row['lenient']:.0%} lenient)" if row["mapped"] else f"{name} (no class)"
            for name, row in figures.per_folder.items()]
    ax.set_xticks(np.arange(len(cm["columns"])), cm["columns"], rotation=45, ha="right")
    ax.set_yticks(np.arange(len(rows)), rows)
    ax.set(xlabel=f"answer (threshold {figures.threshold:.2f})", ylabel="photo folder",
           title=f"real photos: lenient {figures.lenient:.1%}, strict {figures.strict:.1%}, "
                 f"answered {figures.coverage:.0%}, unsure on no-class {figures.unsure_unmapped:.0%}")
    for i, j in np.ndindex(matrix.shape):
        if matrix[i, j]:
            colour = "white" if shares[i, j] > 0.5 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=colour)
    save_figure(fig, path)


def image_grid(images: np.ndarray, captions: list[str], path: Path | Output, title: str, columns: int = 5) -> None:
    """Up to rows x columns images (28x28 grey, or colour) with a caption over each (the tutorial's 5x5 figure),
    drawn as one mosaic on one axes: 25 axes of their own took about 2 s a figure."""
    plt = pyplot()
    rows = max(1, -(-len(images) // columns))
    lines = max((caption.count("\n") + 1 for caption in captions), default=1)
    mosaic, cell = _mosaic(images, rows, columns, lines)
    width = 2.0 * columns  # inches
    fig, ax = plt.subplots(figsize=(width, width * mosaic.shape[0] / mosaic.shape[1] + 0.5))
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - 0.5 / fig.get_figheight())
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    for i, caption in enumerate(captions[: len(images)]):
        row, column = divmod(i, columns)
        ax.text((column + 0.5) * cell[1], row * cell[0] + cell[2] - 1, caption, ha="center", va="bottom",
                fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)


def _mosaic(images: np.ndarray, rows: int, columns: int, lines: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The images tiled on white as RGB in [0, 1], a caption's room above each; and a cell's (height, width, room
    above the image). A grey image reads dark on light, as imshow's "binary" map shows it; BGR colour becomes RGB."""
    side = images.shape[1] if len(images) else 28
    gap = max(1, side // 8)
    room = round((side + gap) * (0.075 * lines + 0.03))  # a cell is 2 inches wide; a caption line at 8 pt, 0.15
    cell = (side + room, side + gap, room)
    canvas = np.ones((rows * cell[0], columns * cell[1], 3))
    for i, image in enumerate(images):
        row, column = divmod(i, columns)
        top, left = row * cell[0] + room, column * cell[1] + gap // 2
        canvas[top : top + side, left : left + image.shape[1]] = _rgb(image)
    return canvas, cell


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:  # the photo tier's colour squares, BGR as OpenCV reads them
        return np.clip(image[..., ::-1] / (255.0 if image.dtype == np.uint8 else 1.0), 0.0, 1.0)
    grey = image.astype(np.float64)
    span = float(grey.max() - grey.min()) or 1.0
    return np.repeat((1.0 - (grey - grey.min()) / span)[..., None], 3, axis=2)


def samples(images: np.ndarray, labels: np.ndarray, path: Path | Output) -> None:
    image_grid(images[:25], [CLASS_NAMES[i] for i in labels[:25]], path, "first 25 training images")


def errors(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, path: Path | Output) -> None:
    wrong = np.flatnonzero(labels != predicted)[:25]
    captions = [f"true {CLASS_NAMES[labels[i]]}\npred {CLASS_NAMES[predicted[i]]}" for i in wrong]
    image_grid(images[wrong], captions, path, f"misclassified test images (first {len(wrong)})")


def flips(images: np.ndarray, labels: np.ndarray, expected: np.ndarray, predicted: np.ndarray, names: list[str],
          path: Path | Output, file: str) -> None:
    """The images an exported file answers differently from Keras (the first 25), with the truth and both
    answers: the parity report's picture."""
    changed = np.flatnonzero(expected != predicted)
    shown = changed[:25]
    captions = [f"true {names[labels[i]]}\nKeras {names[expected[i]]}\n{file}: {names[predicted[i]]}" for i in shown]
    image_grid(images[shown], captions, path, f"{file}: {len(changed)} of {len(labels)} answers differ from Keras"
               + (f" (first {len(shown)})" if len(changed) > len(shown) else ""))
