"""Classify many inputs: bad ones are reported and skipped, the rest still run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fmnist.core import atomic
from fmnist.core.errors import FmnistError
from fmnist.runtime.annotate import annotate
from fmnist.runtime.classifier import Classifier, Result
from fmnist.runtime.decision import NOT_SURE
from fmnist.runtime.image import ImageError, read_image, shrink
from fmnist.runtime.inputs import Unreadable, expand

SAVE_SIDE = 2048  # the annotated copy's long side, at most


@dataclass(frozen=True)
class Outcome:
    path: Path
    result: Result | None = None
    error: str | None = None  # why this input was skipped
    saved: Path | None = None  # the annotated copy, with --save
    save_error: str | None = None  # classified, but its annotated copy could not be written: why


def label_text(result: Result) -> str:
    """"Coat 87%", or "not sure (maybe Coat 41%)" below the model's threshold or when nothing was found."""
    best = result.best
    if not result.sure:
        why = "no object found; " if result.prepared.empty else ""
        return f"{NOT_SURE} ({why}maybe {best.label} {best.score:.0%})"
    return f"{best.label} {best.score:.0%}" + (" (low contrast)" if result.prepared.low_contrast else "")


def _save(folder: Path, path: Path, image: np.ndarray, result: Result) -> Path:
    """The annotated copy as folder/<stem>.jpg, or <stem>-2.jpg… when that name is taken: never over a file. A large
    photo is drawn at most SAVE_SIDE pixels on its long side (a full-size float copy of 100 MP is gigabytes)."""
    shrunk = shrink(image, SAVE_SIDE)
    x, y, w, h = result.prepared.box
    box = tuple(round(v * shrunk.factor) for v in (x, y, w, h))
    drawn = annotate(shrunk.small, [label_text(result)], result.prepared.image, box)  # type: ignore[arg-type]
    ok, jpeg = cv2.imencode(".jpg", drawn)
    if not ok:
        raise ImageError(f"{path}: could not encode the annotated copy")
    try:
        return atomic.write_new(jpeg.tobytes(), atomic.free_names(folder, path.stem, ".jpg"))
    except FmnistError as e:
        raise ImageError(f"{path}: {e}") from e


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FmnistError(f"cannot write annotated copies into {folder}: {e.strerror or e}; choose another "
                          "--save folder") from e


def classify_inputs(classifier: Classifier, inputs: list[str], top: int = 3, raw: bool = False,
                    save: Path | None = None) -> Iterator[Outcome]:
    """Each input's outcome, in order, and each folder that could not be read. With `save`, annotated copies go
    there, and its files are not inputs; a copy that cannot be written leaves its photo classified."""
    if save:
        _make_folder(save)
    written: set[str] = set()  # copies made by this run, which a walk of the --save folder itself may meet
    for path in expand(inputs, skip=save):
        if isinstance(path, Unreadable):
            yield Outcome(path.path, error=f"{path.path}: cannot read the folder ({path.reason}); nothing in it "
                                           "was classified")
            continue
        if os.path.realpath(path) in written:  # realpath never raises (resolve does on a symlink loop)
            continue
        try:
            image = read_image(path)
            result = classifier.classify(image, top=top, raw=raw)
        except ImageError as e:
            yield Outcome(path, error=str(e))
            continue
        yield _saved(save, path, image, result, written) if save else Outcome(path, result)


def _saved(save: Path, path: Path, image: np.ndarray, result: Result, written: set[str]) -> Outcome:
    """A classified photo's outcome once its annotated copy is written, or with why it could not be."""
    try:
        saved = _save(save, path, image, result)
    except ImageError as e:
        return Outcome(path, result, save_error=str(e))
    written.add(os.path.realpath(saved))
    return Outcome(path, result, saved=saved)
