"""Reads of a user's whole file, bounded by a named limit: the size is checked (stat) before a byte is read, and the
read stops at the limit all the same (a file that grew meanwhile). A file over its limit is one error line that
names the file, its size and the limit; a FIFO (which would block) or a device (which never ends) is refused too.
OSError (missing, unreadable) is left to the caller, whose message knows the fix."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from fmnist.core.errors import FmnistError

BLOCK = 1 << 20  # bytes hashed at a time


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB" if size >= 1e6 else f"{size / 1e6:.2f} MB"


def checked_size(path: Path, limit: int, may_take: str, error: type[FmnistError], fix: str) -> int:
    """The size of the regular file at `path`; `error` when it is another kind of file or over `limit` bytes. The
    message reads '{path}: 1,200 MB, over the 10 MB {may_take}; {fix}'."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise error(f"cannot read {path}: not a regular file (a folder, a pipe or a device)")
    if info.st_size > limit:
        raise error(f"{path}: {megabytes(info.st_size)}, over the {megabytes(limit)} {may_take}; {fix}")
    return info.st_size


def read_bounded(path: Path, limit: int, may_take: str, error: type[FmnistError], fix: str) -> bytes:
    """The bytes of the file at `path`, at most `limit` of them (checked_size first)."""
    checked_size(path, limit, may_take, error, fix)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise error(f"{path}: grew past the {megabytes(limit)} {may_take} while it was read; {fix}")
    return data


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read a block at a time (never the whole file in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
