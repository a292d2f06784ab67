"""Classify many inputs: bad ones are reported and skipped, the rest still run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fmnist.core import atomic
from fmnist.core.errors import FmnistError, escaped
from fmnist.runtime.annotate import annotate
from fmnist.runtime.classifier import Classifier, Result
from fmnist.runtime.decision import NOT_SURE
from fmnist.runtime.image import IMAGE_EXTENSIONS, ImageError, read_image, shrink
from fmnist.runtime.inputs import Unmatched, Unreadable, expand

SAVE_SIDE = 2048  # the annotated copy's long side, at most


@dataclass(frozen=True)
class Outcome:
    path: Path
    result: Result | None = None
    error: str | None = None  # why this input was skipped
    saved: Path | None = None  # the annotated copy, with --save
    save_error: str | None = None  # classified, but its annotated copy could not be written: why

    def to_json(self) -> dict[str, Any]:
        """`classify --json`'s line for this input: its result, or why it was skipped."""
        if self.result is None:
            return {"input": str(self.path), "error": self.error}
        return {"input": str(self.path), **self.result.to_json()}

    def text(self) -> str:
        """`classify`'s line for a classified input: its label, the other guesses and the time (names escaped)."""
        assert self.result is not None
        others = "  ".join(f"{g.label} {g.score:.0%}" for g in self.result.top[1:])
        return f"{escaped(self.path)}: {label_text(self.result)}  {others}  [{self.result.ms:.1f} ms]"


@dataclass
class Tally:
    """How a classify run went: the inputs met, those skipped, and those classified without their annotated copy."""

    done: int = 0
    failed: int = 0
    unsaved: int = 0

    def add(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += outcome.error is not None
        self.unsaved += outcome.save_error is not None

    @property
    def saved(self) -> int:
        return self.done - self.failed - self.unsaved

    def check(self, inputs: list[str], save: Path | None, as_json: bool = False) -> None:
        """Refuse (FmnistError, exit 1) a run that found no image, or in which one was skipped or not saved. The
        skipped ones were listed on stderr, or, `as_json`, each in its line's "error"."""
        if self.done == 0:
            raise FmnistError(f"no images found in {' '.join(inputs)} (looked for {', '.join(IMAGE_EXTENSIONS)})")
        where = " (their JSON lines say why)" if as_json else ""
        parts = [f"{self.failed} of {self.done} inputs could not be classified{where}"] if self.failed else []
        if self.unsaved:
            parts.append(f"{self.unsaved} classified photo{'s' if self.unsaved > 1 else ''} could not be saved "
                         f"into {save}")
        if parts:
            raise FmnistError("; ".join(parts) + ("" if as_json and not self.unsaved else " (listed above)"))


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


@dataclass(frozen=True)
class Copies:
    """The --save folder as the run began: a file that appears in it since is one of this run's annotated copies,
    which a glob over the folder may meet, and never an input (whichever process wrote it)."""

    folder: str | None = None  # its real path
    before: frozenset[str] = frozenset()  # the names in it when the run began

    @classmethod
    def of(cls, save: Path | None) -> Copies:
        if save is None:
            return cls()
        folder = os.path.realpath(save)  # realpath never raises (resolve does on a symlink loop)
        try:
            return cls(folder, frozenset(os.listdir(folder)))
        except OSError:
            return cls(folder)

    def ours(self, path: Path) -> bool:
        real = os.path.realpath(path)
        return os.path.dirname(real) == self.folder and os.path.basename(real) not in self.before


def listed(inputs: list[str], save: Path | None = None) -> Iterator[Path | Outcome]:
    """The photos to classify, in order, and an error outcome for each folder that could not be read. With `save`,
    the folder is made first, and the copies this run writes into it are not inputs."""
    if save:
        _make_folder(save)
    copies = Copies.of(save)
    for path in expand(inputs, skip=save):
        if isinstance(path, Unmatched):
            yield Outcome(path.path, error=f"{path.path}: the pattern matches no image")
        elif isinstance(path, Unreadable):
            yield Outcome(path.path, error=f"{path.path}: cannot read the folder ({path.reason}); nothing in it "
                                           "was classified")
        elif not copies.ours(path):
            yield path


def classify_path(classifier: Classifier, path: Path, top: int = 3, raw: bool = False,
                  save: Path | None = None) -> Outcome:
    """One photo's outcome: read once (a JPEG at the scale the model needs), classified, its annotated copy written
    with `save`; why not, when it cannot be read or its copy cannot be written."""
    try:
        image = read_image(path, classifier.preparation.enough(raw))
        result = classifier.classify(image, top=top, raw=raw)
    except ImageError as e:
        return Outcome(path, error=str(e))
    return _saved(save, path, image, result) if save else Outcome(path, result)


def classify_inputs(classifier: Classifier, inputs: list[str], top: int = 3, raw: bool = False,
                    save: Path | None = None) -> Iterator[Outcome]:
    """Each input's outcome, in order, and each folder that could not be read, in this process. With `save`,
    annotated copies go there, and its files are not inputs; a copy that cannot be written leaves its photo
    classified."""
    for item in listed(inputs, save):
        yield item if isinstance(item, Outcome) else classify_path(classifier, item, top, raw, save)


def _saved(save: Path, path: Path, image: np.ndarray, result: Result) -> Outcome:
    """A classified photo's outcome once its annotated copy is written, or with why it could not be."""
    try:
        return Outcome(path, result, saved=_save(save, path, image, result))
    except ImageError as e:
        return Outcome(path, result, save_error=str(e))
