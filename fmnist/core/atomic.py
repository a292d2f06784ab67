"""Atomic writes: a temp file in the same folder, synced, then a rename. A failure leaves the old file intact."""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fmnist.core.errors import FmnistError, UsageError
from fmnist.core.signals import whole


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
    _sync_folder(final.parent)


def _sync_folder(folder: Path) -> None:
    """The folder's entries on disk: a new or renamed name survives a power cut."""
    if os.name == "posix":  # a folder cannot be opened for fsync on Windows
        _fsync(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def new_temp(final: Path, tag: str = "tmp") -> Path:
    """A new empty hidden file beside `final` to write it in: .STEM.<random>.TAG.SUFFIX (the suffix kept, so that
    a writer that goes by it picks the same format), with the mode a new file gets under the umask."""
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".{tag}{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes 0600; a model file should read like any other
    return tmp_path


@contextmanager
def _beside(final: Path) -> Iterator[Path]:
    """A temp path beside `final` (hidden, same suffix), removed at the end unless the block moved it; an OSError
    in the block (a full disk, a read-only folder) becomes one line that says nothing was replaced."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = new_temp(final)
    try:
        yield tmp_path
    except OSError as e:  # a full disk, a read-only folder…: the old file is untouched, the temp file goes
        raise FmnistError(f"cannot write {final}: {e.strerror or e}; free some space or choose another "
                          "folder (the previous file, if any, is unchanged)") from e
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path beside `final` (same suffix); rename it over `final` only if the block succeeds."""
    final = Path(final)
    with _beside(final) as tmp:
        yield tmp
        _commit(tmp, final)


@contextmanager
def claimed_path(final: Path, vet: Callable[[Path], None]) -> Iterator[Path]:
    """Like atomic_path, but never over a file `vet` does not accept. A free name is claimed by a hard link of the
    finished file, which fails if the name was taken meanwhile (write_new's claim); a taken name is handed to
    `vet`, which raises unless the file there may be replaced, and only then replaced."""
    final = Path(final)
    with _beside(final) as tmp:
        yield tmp
        _fsync(tmp, os.O_RDONLY)
        if _link_new(tmp, final):
            _sync_folder(final.parent)
        else:
            vet(final)
            _commit(tmp, final)


def _refuse_taken(final: Path) -> None:
    raise UsageError(f"{final}: a file was made under this name while fmnist worked; it is left as it was. Choose "
                     "a new name, or move it away, and run again")


def new_path(final: Path) -> AbstractContextManager[Path]:
    """A temp path that takes the name `final` at the end only if no file holds it then: one made there while the
    block ran stays as it was, and the write fails with one line (UsageError)."""
    return claimed_path(final, _refuse_taken)


class Output(Protocol):
    """A file written through a temp path: `writing()` yields the temp path and puts the file in place at the end
    of the block, by its own rule (NewFile: only under a free name; fmnist.core.owned.OwnedFile: only over a file
    fmnist wrote)."""

    def writing(self) -> AbstractContextManager[Path]: ...


@dataclass(frozen=True)
class NewFile:
    """A name to write only if it is still free when the write ends (`bench --plot`)."""

    path: Path

    def writing(self) -> AbstractContextManager[Path]:
        return new_path(self.path)


def writing(target: Path | Output) -> AbstractContextManager[Path]:
    """A plain path is written as atomic_path writes it (over an earlier file); an Output by its own rule."""
    return atomic_path(target) if isinstance(target, Path) else target.writing()


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
    raises, the earlier `final` is put back and nothing has changed. A folder made at `final` meanwhile is never
    replaced by the put-back: the earlier one is then kept under a new name beside it, and the error says where.
    The swap happens whole: Ctrl-C or a stop signal takes effect once it is done."""
    with whole():
        if os.path.lexists(final):
            os.replace(final, aside)
            if check:
                try:
                    check(aside)
                except BaseException:
                    _put_folder_back(aside, final)
                    raise
        try:
            os.replace(ready, final)
        except OSError:
            if aside.exists():
                _put_folder_back(aside, final)
            raise
        shutil.rmtree(aside, ignore_errors=True)


def _put_folder_back(aside: Path, final: Path) -> None:
    """Return the earlier folder to `final`; if something was put there meanwhile, keep it under a new name
    beside `final` (never inside a temporary folder that is about to be removed) and say where (FmnistError)."""
    try:
        os.rename(aside, final)  # fails on anything at `final` but an empty folder
    except OSError as e:
        kept = Path(tempfile.mkdtemp(prefix=f"{final.name}.kept.", dir=final.parent)) / final.name
        os.replace(aside, kept)
        raise FmnistError(f"{final}: something was put there while fmnist worked ({e.strerror or e}); it is left as "
                          f"it is, and the earlier {final.name} is kept whole as {kept}") from e


@dataclass(frozen=True)
class Claim:
    """A name this process holds with an empty file it made exclusively, until the finished file takes its place
    (fill_claim) or the name is given back (release_claim): `live --record`'s name, claimed before the source opens.
    `device` and `inode` tell that empty file from any other put there since."""

    path: Path
    device: int
    inode: int


def claim_name(path: Path) -> Claim:
    """Claim `path` with an empty file, made exclusively and without following a symlink; FileExistsError if the
    name is taken."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        found = os.fstat(fd)
    finally:
        os.close(fd)
    return Claim(Path(path), found.st_dev, found.st_ino)


def _is_claim(found: os.stat_result, claim: Claim) -> bool:
    return stat.S_ISREG(found.st_mode) and found.st_size == 0 and (found.st_dev, found.st_ino) == (claim.device,
                                                                                                  claim.inode)


def release_claim(claim: Claim) -> bool:
    """Remove the claim's empty file if it is still there and still that empty file. It is first moved into a new
    private folder and checked there, so a file someone put under the name since is never removed: it is put
    back. True when the name is free now."""
    path = claim.path
    holder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".claim", dir=path.parent))
    aside = holder / "claim"
    try:
        try:
            os.rename(path, aside)
        except FileNotFoundError:  # removed by hand: the name is free
            return True
        if _is_claim(os.lstat(aside), claim):
            aside.unlink()
            return True
        _put_back(aside, path)
        return False
    finally:
        if not os.path.lexists(aside):
            holder.rmdir()  # only ever empty here: a file that could not be put back stays in it


def _put_back(aside: Path, path: Path) -> None:
    """Return someone's file to its name, never over another: a hard link (a rename for anything else), and the
    aside name dropped only once it is back."""
    try:
        if aside.is_file() and not aside.is_symlink():
            os.link(aside, path)
            aside.unlink()
        elif not os.path.lexists(path):
            os.rename(aside, path)
    except OSError as e:
        raise FmnistError(f"{path}: a file was put under this name while fmnist held it, and could not be put back "
                          f"({e.strerror or e}); it is kept as {aside}") from e


def fill_claim(ready: Path, claim: Claim | None, final: Path) -> bool:
    """Give the finished file `ready` the name `final`, which `claim` holds (None: the name must be free). The claim
    is released (release_claim) and `ready` then takes the name by a hard link, which fails if the name was taken
    meanwhile: a file of someone else's is never replaced. False (and `ready` kept where it is) if the name is
    another file's."""
    if claim is not None and not release_claim(claim):
        return False
    if not _link_new(ready, final):
        return False
    ready.unlink()
    _sync_folder(final.parent)
    return True
