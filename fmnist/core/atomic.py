"""Atomic writes: a temp file in the same folder, synced, then a rename. A failure leaves the old file intact."""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
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


def write_new(data: bytes, names: Iterable[Path]) -> Path:
    """Write `data` under the first of `names` that does not exist yet and return it; never replaces a file.

    The synced temp file is hard-linked to its name, which fails if the name is taken, even by another process
    a moment ago: O_EXCL's guarantee, with no empty file under the name in between."""
    names = iter(names)
    first = next(names)
    folder = first.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fmnist-", suffix=f".tmp{first.suffix}", dir=folder)
    except OSError as e:  # read-only, full, a name too long for the filesystem
        raise FmnistError(f"cannot write {first}: {e.strerror or e}; choose another folder") from e
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp_path.chmod(0o666 & ~_umask())
        for final in itertools.chain([first], names):
            if _link_new(tmp_path, final):
                _fsync(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                return final
    except OSError as e:
        raise FmnistError(f"cannot write {first}: {e.strerror or e}; free some space or choose another "
                          "folder") from e
    finally:
        tmp_path.unlink(missing_ok=True)
    raise FmnistError(f"no free name for {first.name} in {folder}: every candidate is taken; move some files away")


def _link_new(tmp: Path, final: Path) -> bool:
    """Give `tmp`'s content the name `final` unless that name exists; False if it does."""
    try:
        os.link(tmp, final)
        return True
    except FileExistsError:
        return False
    except OSError as e:  # a filesystem without hard links (FAT): reserve the name, then fill it
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    try:
        os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        return False
    shutil.copyfile(tmp, final)  # over the empty file this call just made, never over another
    return True


def free_names(folder: Path, stem: str, suffix: str, limit: int = 10_000) -> Iterator[Path]:
    """stem.jpg, stem-2.jpg, stem-3.jpg, …: the names write_new tries for one file."""
    yield folder / f"{stem}{suffix}"
    for n in range(2, limit + 1):
        yield folder / f"{stem}-{n}{suffix}"


def write_json(path: Path, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def temp_folder(final: Path) -> Path:
    """A new hidden folder beside `final` to build it in, with the mode mkdir gives under the umask (mkdtemp
    makes 0700, which the folder would keep once renamed to `final`)."""
    folder = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent))
    folder.chmod(0o777 & ~_umask())
    return folder


def swap_folder(ready: Path, final: Path, aside: Path, check: Callable[[Path], None] | None = None) -> None:
    """Put the finished folder `ready` at `final`. An earlier `final` is moved to `aside` (beside it, same
    filesystem) first and removed only once the new one is in place; if the move in fails, it is put back.
    `check`, if given, vets the earlier `final` once it is moved aside (under a name only this call uses); if it
    raises, the earlier `final` is put back and nothing has changed."""
    if os.path.lexists(final):
        os.replace(final, aside)
        if check:
            try:
                check(aside)
            except BaseException:
                os.replace(aside, final)
                raise
    try:
        os.replace(ready, final)
    except OSError:
        if aside.exists():
            os.replace(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)
