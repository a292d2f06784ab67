"""Reads of a user's whole file, bounded by a named limit: the size is checked (stat) before a byte is read, and the
read stops at the limit all the same (a file that grew meanwhile). A file over its limit is one error line that
names the file, its size and the limit; a FIFO (which would block) or a device (which never ends) is refused too.
OSError (missing, unreadable) is left to the caller, whose message knows the fix."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
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
    with open(path, "rb") as f:
        return _sha256(f.fileno())[0]


def _sha256(fd: int, most: int | None = None) -> tuple[str, int]:
    """The hex sha256 of what `fd` reads, a block at a time, and how many bytes that was; at most `most` bytes."""
    digest, count = hashlib.sha256(), 0
    while most is None or count < most:
        block = os.read(fd, BLOCK if most is None else min(BLOCK, most - count))
        if not block:
            break
        digest.update(block)
        count += len(block)
    return digest.hexdigest(), count


@contextmanager
def opened_regular(path: Path, follow: bool = True) -> Iterator[tuple[int, os.stat_result] | None]:
    """The descriptor of the regular file at `path` and its stat, taken on that descriptor, or None when there is
    none (missing, a folder, a FIFO: opened without waiting for a writer; a link, unless `follow`; a name the file
    system cannot take). Closed at the end of the block."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError):  # ValueError: a NUL, or a lone surrogate, in the name
        yield None
        return
    try:
        found = os.fstat(fd)
        yield (fd, found) if stat.S_ISREG(found.st_mode) else None
    finally:
        os.close(fd)


def sha256_regular(path: Path, limit: int | None = None) -> str | None:
    """The hex sha256 of the regular file at `path`, not through a link and of at most `limit` bytes (None: any
    size), or None (see opened_regular; over the limit, or growing while it is read, or unreadable). What a check
    of a name against a recorded sha256 reads: a name swapped meanwhile for a FIFO or a link is no match, not a
    wait or a file elsewhere."""
    try:
        with opened_regular(path, follow=False) as found:
            if found is None or (limit is not None and found[1].st_size > limit):
                return None
            digest, count = _sha256(found[0], found[1].st_size + 1)  # a file growing meanwhile is read no further
    except OSError:
        return None
    return digest if count == found[1].st_size else None
