"""Labels given by eye to the photos whose folder hides the class (docs/photo-labels.md tells how they were made).

The clothing photo set's `shoes` folder mixes sandals, sneakers, boots and other shoes, and `shirt` and `longsleeve`
mix button-down shirts, sweaters and tops, so a folder cannot say what a strict answer is.
fmnist/assets/photo_labels.csv holds one row a photo of those folders (`folder,split,file,sha256,label,note`),
keyed by the photo's sha256 so that any copy of the set finds its rows; a row counts only for a photo in a folder
of its own name (under a photo map of your own, your folders keep their labels). A row's label is one of:
- a Fashion-MNIST class: what a person calls the photo; the strict answer, and also right in the lenient count;
- `other`: of the folder's kind but none of its classes (a pump in `shoes`): the folder's labels stand, and the
  strict count leaves the photo out;
- `none`: no Fashion-MNIST class at all (not a garment): the right answer is "not sure".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from fmnist.core.bounded import read_bounded, sha256_file
from fmnist.core.errors import UsageError
from fmnist.core.meta import CLASS_NAMES

DEFAULT_LABELS = "photo_labels.csv"  # in fmnist/assets
MAX_LABELS_BYTES = 8_000_000  # about 80,000 rows; the default file holds about 1,000
COLUMNS = ("folder", "split", "file", "sha256", "label", "note")
OTHER, NONE, UNLABELLED = -1, -2, -3  # codes beside the class indices 0-9
UNKNOWN = -4  # a photo of a folder labelled by eye that has no row (a re-encoded copy, a photo added since)
WORDS = {"other": OTHER, "none": NONE}


@dataclass(frozen=True)
class PhotoLabels:
    codes: dict[str, int]  # a photo's sha256 -> its class index, OTHER or NONE
    source: str
    folders: dict[str, str] = field(default_factory=dict)  # a photo's sha256 -> the folder its label was given in

    @property
    def labelled_folders(self) -> frozenset[str]:
        """The folders whose photos were labelled by eye (their class is not the folder's)."""
        return frozenset(self.folders.values())

    @classmethod
    def load(cls, path: Path | None = None) -> PhotoLabels:
        """The project's labels, or a CSV file with the same columns."""
        where = Path(path) if path else Path(str(resources.files("fmnist") / "assets" / DEFAULT_LABELS))
        text = read_bounded(where, MAX_LABELS_BYTES, "a label file may take", UsageError,
                            "a label file holds one short row a photo").decode("utf-8", errors="replace")
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows or tuple(rows[0]) != COLUMNS:
            raise UsageError(f"{where}: a photo label file is CSV with the header {','.join(COLUMNS)}")
        return cls({row["sha256"]: _code(row, where, n) for n, row in enumerate(rows, 2)},
                   "default" if path is None else str(where), {row["sha256"]: row["folder"] for row in rows})

    def of(self, digests: Sequence[str], folders: Sequence[str] | None = None) -> np.ndarray:
        """(N,) int: each photo's class index, OTHER or NONE; UNKNOWN for a photo in a folder labelled by eye that the
        file has no row for; UNLABELLED otherwise. With `folders` (each photo's folder name), a row counts only for a
        photo in the folder it was given in."""
        folders = folders if folders is not None else [None] * len(digests)
        return np.array([self._code_of(d, f) for d, f in zip(digests, folders, strict=True)], np.int64)

    def _code_of(self, digest: str, folder: str | None) -> int:
        if digest in self.codes and folder in (None, self.folders.get(digest)):
            return self.codes[digest]
        return UNKNOWN if folder in self.labelled_folders else UNLABELLED

    def of_files(self, paths: Sequence[Path], folders: Sequence[str] | None = None) -> np.ndarray:
        """`of` the files' sha256 (each read a block at a time)."""
        return self.of([sha256_file(p) for p in paths], folders)


def _code(row: dict[str, str], where: Path, line: int) -> int:
    label = row["label"]
    if label in WORDS:
        return WORDS[label]
    if label in CLASS_NAMES:
        return CLASS_NAMES.index(label)
    raise UsageError(f"{where}, line {line}: unknown label {label!r}; use a Fashion-MNIST class "
                     f"({', '.join(CLASS_NAMES)}), other or none")
