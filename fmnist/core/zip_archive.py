"""A zip archive a user hands fmnist (a .keras model, a run's .npz arrays) is read whole into memory by its reader
(Keras, numpy): a file of a few MB can declare members that inflate to gigabytes, or list millions of members that
zipfile makes an object for before any is read. It is checked first, in milliseconds: a regular file of at most
`limit` bytes whose directory lists at most `members` members, told from the directory's end record before the
directory itself is read, and whose members declare at most `limit` bytes once inflated. Python's zipfile, which
Keras and numpy read with, never gives more of a member than its declared size."""

from __future__ import annotations

import zipfile
from pathlib import Path

from fmnist.core.bounded import checked_size, megabytes
from fmnist.core.errors import ModelError


def check_zip(path: Path, what: str, limit: int, members: int, fix: str) -> None:
    """ModelError, naming `what` ("a Keras model") and `fix`, unless `path` is a regular file holding a zip archive
    within `limit` bytes and `members` members (a pipe or /dev/zero is never read: it would be read for ever)."""
    refused = f"cannot load {path} as {what}"
    if not Path(path).is_file():
        raise ModelError(f"{refused} (it is not a file holding a zip archive); {fix}")
    try:
        checked_size(Path(path), limit, f"{what} may take", ModelError, fix)
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # what zipfile.is_zipfile reads: the end record, ~64 KB from the end at most
    except OSError as e:
        raise ModelError(f"cannot read {path} ({e.strerror or e}); {fix}") from e
    if not end:
        raise ModelError(f"{refused} (it is not a file holding a zip archive); {fix}")
    if end[zipfile._ECD_ENTRIES_TOTAL] > members:
        raise ModelError(f"{refused}: its archive lists {end[zipfile._ECD_ENTRIES_TOTAL]:,} members, more than the "
                         f"{members:,} {what} may hold; {fix}")
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelError(f"{refused} (its zip archive is damaged: {e}); {fix}") from e
    if inflated > limit:
        raise ModelError(f"{refused}: its members inflate to {megabytes(inflated)}, over the {megabytes(limit)} "
                         f"{what} may take; {fix}")
