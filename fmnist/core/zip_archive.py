"""A zip archive a user hands fmnist (a .keras model, a run's .npz arrays) is read by Keras or numpy through Python's
zipfile, which allocates what the archive declares: an object per entry of its directory, and for a member read
whole (as Keras reads config.json and model.weights.h5) all its compressed stream inflates to, cut to the declared
size only afterwards (bzip2 and LZMA members inflate whole however they are read). So an archive is checked first:

- a regular file of at most `limit` bytes;
- its end record (read by zipfile's own `_EndRecData`, at most ~64 KB from the file's end) lists at most `members`
  entries in a directory of at most `members` KB, so the directory zipfile reads next is bounded;
- each member uses a method its reader bounds (`methods`: a .keras file's members are stored, as Keras writes them;
  numpy reads an .npz's deflated members a chunk at a time), a stored one holds exactly its declared size, and
  all members declare at most `limit` bytes once inflated.

A check reads the end record and the directory, not the members: milliseconds."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Collection
from pathlib import Path

from fmnist.core.bounded import checked_size, megabytes
from fmnist.core.errors import ModelError

ENTRY_BYTES = 1024  # directory bytes allowed per member: 46 fixed, then its name, extra field and comment
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated", zipfile.ZIP_BZIP2: "bzip2",
           zipfile.ZIP_LZMA: "LZMA"}


def check_zip(path: Path, what: str, limit: int, members: int, methods: Collection[int], fix: str) -> None:
    """ModelError, naming `what` ("a Keras model") and `fix`, unless `path` is a regular file holding a zip archive
    within the bounds above (a pipe or /dev/zero is never read: it would be read for ever)."""
    refused = f"cannot load {path} as {what}"
    if not Path(path).is_file():
        raise ModelError(f"{refused} (it is not a file holding a zip archive); {fix}")
    try:
        checked_size(Path(path), limit, f"{what} may take", ModelError, fix)
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # what zipfile.is_zipfile and ZipFile read first; no public equivalent
        if not end:
            raise ModelError(f"{refused} (it is not a file holding a zip archive); {fix}")
        _check_directory(end, members, refused, what, fix)
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except OSError as e:
        raise ModelError(f"cannot read {path} ({e.strerror or e}); check that it can be read, or {fix}") from e
    except (zipfile.BadZipFile, struct.error, ValueError, EOFError) as e:  # a damaged or multi-disk archive
        raise ModelError(f"{refused} (its zip archive cannot be read: {e}); {fix}") from e
    _check_members(entries, limit, members, methods, refused, what, fix)


def _check_directory(end: list, members: int, refused: str, what: str, fix: str) -> None:
    if end[zipfile._ECD_ENTRIES_TOTAL] > members:
        raise ModelError(f"{refused}: its archive lists {end[zipfile._ECD_ENTRIES_TOTAL]:,} members, more than the "
                         f"{members:,} {what} may hold; {fix}")
    if end[zipfile._ECD_SIZE] > members * ENTRY_BYTES:
        raise ModelError(f"{refused}: its archive's directory takes {end[zipfile._ECD_SIZE]:,} bytes, more than "
                         f"{members:,} members of {what} need; {fix}")


def _check_members(entries: list[zipfile.ZipInfo], limit: int, members: int, methods: Collection[int],
                   refused: str, what: str, fix: str) -> None:
    if len(entries) > members:  # the directory held more entries than its end record said
        raise ModelError(f"{refused}: its archive holds {len(entries):,} members, more than the {members:,} {what} "
                         f"may hold; {fix}")
    for entry in entries:
        if entry.compress_type not in methods:
            allowed = " or ".join(METHODS[m] for m in methods)
            raise ModelError(f"{refused}: its member {entry.filename[:80]!r} is "
                             f"{METHODS.get(entry.compress_type, f'compressed by method {entry.compress_type}')}, "
                             f"not {allowed}; {fix}")
        if entry.compress_type == zipfile.ZIP_STORED and entry.compress_size != entry.file_size:
            raise ModelError(f"{refused}: its stored member {entry.filename[:80]!r} declares {entry.file_size:,} "
                             f"bytes but holds {entry.compress_size:,}; {fix}")
    inflated = sum(entry.file_size for entry in entries)
    if inflated > limit:
        raise ModelError(f"{refused}: its members inflate to {megabytes(inflated)}, over the {megabytes(limit)} "
                         f"{what} may take; {fix}")
