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
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from fmnist.core.bounded import read_bounded, sha256_file
from fmnist.core.errors import UsageError, printable
from fmnist.core.meta import CLASS_NAMES, same_name

DEFAULT_LABELS = "photo_labels.csv"  # in fmnist/assets
MAX_LABELS_BYTES = 8_000_000  # about 80,000 rows; the default file holds about 1,000
COLUMNS = ("folder", "split", "file", "sha256", "label", "note")
OTHER, NONE, UNLABELLED = -1, -2, -3  # codes beside the class indices 0-9
UNKNOWN = -4  # a photo of a folder labelled by eye that has no row (a re-encoded copy, a photo added since)
WORDS = {"other": OTHER, "none": NONE}
SHA256 = re.compile("[0-9a-f]{64}")  # as sha256sum prints it


@dataclass(frozen=True)
class PhotoLabels:
    codes: dict[str, int]  # a photo's sha256 -> its class index, OTHER or NONE
    source: str
    folders: dict[str, str] = field(default_factory=dict)  # sha256 -> the folder its label was given in (same_name)

    @cached_property  # asked once a photo by `of`
    def labelled_folders(self) -> frozenset[str]:
        """The folders whose photos were labelled by eye (their class is not the folder's)."""
        return frozenset(self.folders.values())

    @classmethod
    def load(cls, path: Path | None = None) -> PhotoLabels:
        """The project's labels, or a CSV file with the same columns, every row checked (check_rows). A file with the
        header alone is refused: it would label nothing, and every photo would quietly fall back to its folder's
        labels (every shoe strict "Sandal"), which is what a label file is there to prevent."""
        where = Path(path) if path else Path(str(resources.files("fmnist") / "assets" / DEFAULT_LABELS))
        rows = read_table(where, COLUMNS, "a photo label file")
        if not rows:
            raise UsageError(f"{where}: a photo label file with its header and no rows labels nothing; give one row a "
                             "photo")
        check_rows(rows)
        return cls({r.fields["sha256"]: _code(r) for r in rows}, "default" if path is None else str(where),
                   {r.fields["sha256"]: same_name(r.fields["folder"]) for r in rows})

    def of(self, digests: Sequence[str], folders: Sequence[str] | None = None) -> np.ndarray:
        """(N,) int: each photo's class index, OTHER or NONE; UNKNOWN for a photo in a folder labelled by eye that the
        file has no row for; UNLABELLED otherwise. With `folders` (each photo's folder name), a row counts only for a
        photo in the folder it was given in."""
        named = [same_name(f) for f in folders] if folders is not None else [None] * len(digests)
        return np.array([self._code_of(d, f) for d, f in zip(digests, named, strict=True)], np.int64)

    def _code_of(self, digest: str, folder: str | None) -> int:
        if digest in self.codes and folder in (None, self.folders.get(digest)):
            return self.codes[digest]
        return UNKNOWN if folder in self.labelled_folders else UNLABELLED

    def of_files(self, paths: Sequence[Path], folders: Sequence[str] | None = None) -> np.ndarray:
        """`of` the files' sha256 (each read a block at a time)."""
        return self.of([sha256_file(p) for p in paths], folders)


@dataclass(frozen=True)
class Row:
    """One data row of a CSV file, by column name, and where it is ("FILE, line N"), for error messages."""

    fields: dict[str, str]
    place: str


def read_table(where: Path, columns: tuple[str, ...], what: str) -> list[Row]:
    """The data rows of the CSV file at `where` (UTF-8, a BOM allowed), whose header must be `columns` and whose every
    row has exactly that many fields; blank lines are skipped. Anything else is one UsageError naming the file and
    the line; `what` names the kind of file in it."""
    text = _text(where)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, line = [], 1
    try:
        header = next(reader, None)
        if header is None or tuple(header) != columns:
            raise UsageError(f"{where}: {what} is CSV with the header {','.join(columns)}; its first line is "
                             f"{printable(','.join(header or []) or 'empty', 80)!r}")
        for fields in reader:
            line, start = reader.line_num, line + 1
            if fields:
                rows.append(_row(fields, columns, f"{where}, line {start}"))
    except csv.Error as e:
        raise UsageError(f"{where}, line {reader.line_num}: not valid CSV ({e}); quote a field that holds a comma "
                         "or a quote") from None
    return rows


def _text(where: Path) -> str:
    """The file's text: read within MAX_LABELS_BYTES, decoded as UTF-8 (a leading BOM dropped), never with a byte
    replaced."""
    try:
        data = read_bounded(where, MAX_LABELS_BYTES, "a label file may take", UsageError,
                            "a label file holds one short row a photo")
    except OSError as e:
        raise UsageError(f"cannot read {where}: {e.strerror or e}; give the path of a CSV file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UsageError(f"{where}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02x}); save the file as "
                         "UTF-8") from None


def _row(fields: list[str], columns: tuple[str, ...], place: str) -> Row:
    if len(fields) != len(columns):
        raise UsageError(f"{place}: {len(fields)} fields, not {len(columns)} ({','.join(columns)}); quote a field "
                         "that holds a comma")
    return Row(dict(zip(columns, fields, strict=True)), place)


def check_rows(rows: Sequence[Row]) -> None:
    """Refuse (UsageError naming the rows) a label outside the vocabulary, a sha256 that is not 64 lowercase hex
    digits, and a photo given two rows: the same sha256, or the same folder, split and file."""
    seen: dict[str, Row] = {}
    places: dict[tuple[str, str, str], Row] = {}
    for row in rows:
        _code(row)
        digest = row.fields["sha256"]
        if not SHA256.fullmatch(digest):
            raise UsageError(f"{row.place}: sha256 {printable(digest or 'empty')!r} is not 64 lowercase hex digits; "
                             "give the photo's sha256 as sha256sum prints it")
        if digest in seen:
            raise UsageError(f"{seen[digest].place} and {row.place}: the same photo (sha256 {digest[:12]}…) twice, "
                             f"labelled {_said(seen[digest])} and {_said(row)}; a photo has one row: keep one")
        where = (row.fields["folder"], row.fields["split"], row.fields["file"])
        if where in places:
            raise UsageError(f"{places[where].place} and {row.place}: two rows for {printable('/'.join(where), 80)}; "
                             "a photo has one row: keep one")
        seen[digest], places[where] = row, row


def _said(row: Row) -> str:
    return repr(printable(row.fields["label"]))


def _code(row: Row) -> int:
    label = row.fields["label"]
    if label in WORDS:
        return WORDS[label]
    if label in CLASS_NAMES:
        return CLASS_NAMES.index(label)
    raise UsageError(f"{row.place}: unknown label {printable(label)!r}; use a Fashion-MNIST class "
                     f"({', '.join(CLASS_NAMES)}), other or none")
