"""Atomic writes: a temp file in the same folder, synced, then a rename. A failure leaves the old file intact."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fmnist.core.errors import FmnistError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(tmp: Path, final: Path) -> None:
    """Data on disk first, then the rename, then the folder entry: a power cut (a Pi's plug pulled during
    `live --collect`) leaves the old file or the whole new one, never an empty file under the new name."""
    _fsync(tmp, os.O_RDONLY)
    os.replace(tmp, final)  # atomic on POSIX within one filesystem
    if os.name == "posix":  # a folder cannot be opened for fsync on Windows
        _fsync(final.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path beside `final` (same suffix); rename it over `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes 0600; a model file should read like any other
    try:
        yield tmp_path
        _commit(tmp_path, final)
    except OSError as e:  # a full disk, a read-only folder…: the old file is untouched, the temp file goes
        raise FmnistError(f"cannot write {final}: {e.strerror or e}; free some space or choose another "
                          "folder (the previous file, if any, is unchanged)") from e
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def swap_folder(ready: Path, final: Path, aside: Path) -> None:
    """Put the finished folder `ready` at `final`. An earlier `final` is moved to `aside` (beside it, same
    filesystem) first and removed only once the new one is in place; if the move in fails, it is put back."""
    if final.exists():
        os.replace(final, aside)
    try:
        os.replace(ready, final)
    except OSError:
        if aside.exists():
            os.replace(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)
