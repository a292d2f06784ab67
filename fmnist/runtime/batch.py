"""Classify many inputs: bad ones are reported and skipped, the rest still run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from fmnist.runtime.annotate import annotate
from fmnist.runtime.classifier import Classifier, Result
from fmnist.runtime.decision import NOT_SURE
from fmnist.runtime.inputs import expand
from fmnist.runtime.preprocess import ImageError, read_image


@dataclass(frozen=True)
class Outcome:
    path: Path
    result: Result | None = None
    error: str | None = None  # why this input was skipped
    saved: Path | None = None  # the annotated copy, with --save


def label_text(result: Result) -> str:
    """"Coat 87%", or "not sure (maybe Coat 41%)" below the model's threshold or when nothing was found."""
    best = result.best
    if not result.sure:
        why = "no object found; " if result.prepared.empty else ""
        return f"{NOT_SURE} ({why}maybe {best.label} {best.score:.0%})"
    return f"{best.label} {best.score:.0%}" + (" (low contrast)" if result.prepared.low_contrast else "")


def _save(folder: Path, path: Path, image: object, result: Result, taken: set[str]) -> Path:
    name, n = f"{path.stem}.jpg", 1
    while name in taken:  # same file name from two folders
        n += 1
        name = f"{path.stem}-{n}.jpg"
    taken.add(name)
    from fmnist.runtime.preprocess import to_bgr8

    out = folder / name
    drawn = annotate(to_bgr8(image), [label_text(result)], result.prepared.image, result.prepared.box)  # type: ignore[arg-type]
    if not cv2.imwrite(str(out), drawn):
        raise ImageError(f"{out}: could not write the annotated copy")
    return out


def classify_inputs(classifier: Classifier, inputs: list[str], top: int = 3, raw: bool = False,
                    save: Path | None = None) -> Iterator[Outcome]:
    taken: set[str] = set()
    if save:
        save.mkdir(parents=True, exist_ok=True)
    for path in expand(inputs):
        try:
            image = read_image(path)
            result = classifier.classify(image, top=top, raw=raw)
            saved = _save(save, path, image, result, taken) if save else None
        except ImageError as e:
            yield Outcome(path, error=str(e))
            continue
        yield Outcome(path, result, saved=saved)
