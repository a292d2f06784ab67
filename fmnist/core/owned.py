"""A folder fmnist writes several files into (a run folder, `export --out`): it replaces only files it wrote.

Every file written through an OwnedFolder is recorded, with its sha256, in the folder's manifest (MANIFEST). A
file may be replaced if the manifest lists it unchanged. A folder with no manifest at all may have been written
before manifests existed: there, and only there, the caller may recognise a file as an earlier fmnist write of the
same work (`earlier`: a model exported from the same .keras file, a run's file beside its run card); it is then
taken as the manifest would have listed it, with its sha256 as it was when first checked. Any other file, or one
changed since, is the user's: `refuse_foreign` refuses the whole write before the long work, and each write checks
its name again as it ends (fmnist.core.atomic.claimed_path): a free name is claimed by a hard link, so a file made
there meanwhile is never replaced either.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmnist.core import atomic
from fmnist.core.bounded import sha256_file, sha256_regular
from fmnist.core.errors import FmnistError, UsageError, listed, printable

MANIFEST = ".fmnist-files.json"  # in a folder fmnist wrote into: {"written_by": "fmnist", "files": {name: sha256}}
RECORDED_LIMIT = 1 << 30  # bytes: a file `recorded` hashes; fmnist's largest (a model) is under 200 MB
MANIFEST_LIMIT = 1 << 20  # bytes; a bigger file under the manifest's name is not one fmnist wrote


def _never(_: Path) -> bool:
    return False


def _exists(path: Path) -> bool:
    """Is there anything (a symlink too) at `path`? False if not; OSError for what cannot be told (a name too
    long), unlike os.path.lexists, which calls that nothing."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


@dataclass(frozen=True)
class OwnedFile:
    """One name in an OwnedFolder, to hand to a writer that takes a path or an Output (fmnist.train.plots)."""

    folder: OwnedFolder
    name: str

    @property
    def path(self) -> Path:
        return self.folder.folder / self.name

    def writing(self) -> AbstractContextManager[Path]:
        return self.folder.writing(self.name)


class OwnedFolder:
    """`folder`, written file by file, never over a file fmnist did not write. `option` names the folder in an
    error (`--out`)."""

    def __init__(self, folder: Path, option: str, earlier: Callable[[Path], bool] = _never) -> None:
        self.folder, self.option, self._earlier = Path(folder), option, earlier
        self._adopted: dict[str, str] = {}  # files `earlier` recognised, with no manifest there: name -> sha256

    def __truediv__(self, name: str) -> OwnedFile:
        return OwnedFile(self, name)

    def written(self) -> dict[str, str]:
        """The manifest: each file fmnist wrote here and its sha256; {} when there is none yet. A file under the
        manifest's name that is not one is refused."""
        path = self.folder / MANIFEST
        try:
            found = os.lstat(path)
        except FileNotFoundError:
            return {}
        except NotADirectoryError:  # the folder is a file: writing into it fails with its own message
            return {}
        files = None
        if stat.S_ISREG(found.st_mode) and found.st_size <= MANIFEST_LIMIT:
            try:
                record = json.loads(path.read_bytes())
            except (ValueError, RecursionError):
                record = None
            files = record.get("files") if isinstance(record, dict) and record.get("written_by") == "fmnist" else None
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise UsageError(f"{self.option} {printable(self.folder, 200)}: {MANIFEST} there is not the record "
                             "fmnist keeps of the files it wrote; nothing was written. Move it away, or choose "
                             f"another {self.option}")
        return files

    def is_ours(self, name: str) -> bool:
        """May fmnist write `name` here: it is free, or a file fmnist wrote (and nobody changed since)?"""
        path = self.folder / name
        try:
            found = os.lstat(path)
        except FileNotFoundError:
            return True
        except NotADirectoryError:
            return True  # the folder is a file: writing into it fails with its own message
        if not stat.S_ISREG(found.st_mode):
            return False  # a folder, a symlink, a pipe: never fmnist's
        recorded = self.written().get(name) or self._adopted.get(name)
        if recorded is not None:
            return sha256_regular(path) == recorded
        return self._adopt(name, path)

    def _adopt(self, name: str, path: Path) -> bool:
        """With no manifest in the folder, a file `earlier` recognises is taken as fmnist's, as it is now: the
        manifest this write starts then holds no earlier file, and one changed after this check is refused."""
        if os.path.lexists(self.folder / MANIFEST) or not self._earlier(path):
            return False
        digest = sha256_regular(path)
        if digest is None:
            return False  # no longer a regular file
        self._adopted[name] = digest
        return True

    def foreign(self, names: Iterable[str]) -> list[str]:
        return [name for name in dict.fromkeys(names) if not self.is_ours(name)]

    def _refuse_unmakeable(self) -> None:
        """Refuse (UsageError, nothing written) a folder that cannot be made or written in: it, or a folder on its
        way, is not a folder, the nearest that exists takes no writes (a read-only mount), or a name is too long.
        Found before the long work, not when its first file is written."""
        path = self.folder.absolute()
        try:
            while not _exists(path) and path != path.parent:
                path = path.parent
        except OSError as e:  # a name too long, a symlink loop…
            raise self._unmakeable((e.strerror or str(e)).lower()) from e
        if not path.is_dir():
            raise self._unmakeable(f"{printable(path, 200)} is not a folder")
        if not os.access(path, os.W_OK):
            raise self._unmakeable(f"{printable(path, 200)} takes no writes")

    def _unmakeable(self, why: str) -> UsageError:
        return UsageError(f"{self.option} {printable(self.folder, 200)}: {why}; nothing was written. Choose another "
                          f"{self.option}")

    def refuse_foreign(self, names: Iterable[str]) -> None:
        """Refuse (UsageError, nothing written) a folder that cannot be made (_refuse_unmakeable), or one where any
        of `names` is a file fmnist did not write, or changed since, or whose manifest is not one fmnist wrote."""
        self._refuse_unmakeable()
        self.written()  # a damaged manifest is refused now, not when the first file is recorded
        found = self.foreign(names)
        if found:
            shown = listed([printable(name) for name in found])
            raise UsageError(f"{self.option} {printable(self.folder, 200)} holds {shown}, which fmnist did not "
                             "write (or which changed since); fmnist never replaces a file of yours, and nothing "
                             f"was written. Move {'it' if len(found) == 1 else 'them'} away, or choose another "
                             f"{self.option}")

    def _vet(self, final: Path) -> None:
        if not self.is_ours(final.name):
            raise UsageError(f"{printable(final, 200)}: a file fmnist did not write was put there while it worked; it "
                             f"is left as it was. Move it away, or choose another {self.option}, and run again")

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """A temp path that takes `name` at the end of the block, if the name is free or fmnist's (see _vet), and
        is then recorded in the manifest (a file that cannot be, on a full disk, is kept and the error says so)."""
        with atomic.claimed_path(self.folder / name, self._vet) as tmp:
            yield tmp
            digest = sha256_file(tmp)
        try:
            self._record(name, digest)
        except FmnistError as e:  # a full disk: the file is kept (a trained model), and the line says it is
            why = getattr(e.__cause__, "strerror", None) or e
            raise FmnistError(f"{printable(self.folder / name, 200)} is written, but {MANIFEST} could not record it "
                              f"({why}); until it does, fmnist takes the file for yours: free some space, then move "
                              "it away (or keep it elsewhere) and run again") from e

    def write_bytes(self, name: str, data: bytes) -> None:
        with self.writing(name) as tmp:
            tmp.write_bytes(data)

    def write_json(self, name: str, obj: Any) -> None:
        self.write_bytes(name, (json.dumps(obj, indent=2) + "\n").encode())

    def recorded(self, pick: Callable[[str], bool]) -> list[str]:
        """The files the manifest lists, unchanged since, that `pick` names: plain names directly in the folder."""
        files = self.written()
        plain = [n for n in files if n == Path(n).name and not n.startswith(".") and "\0" not in n]
        return sorted(n for n in plain if pick(n) and sha256_regular(self.folder / n, RECORDED_LIMIT) == files[n])

    def _record(self, name: str, digest: str) -> None:
        self._write_manifest({**self.written(), name: digest})

    def _write_manifest(self, files: dict[str, str]) -> None:
        atomic.write_json(self.folder / MANIFEST, {
            "written_by": "fmnist",
            "about": "the files fmnist wrote into this folder, with their sha256: it replaces only these, unchanged",
            "files": dict(sorted(files.items()))})
