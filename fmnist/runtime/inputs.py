"""Expand classify's INPUT arguments: files, folders (recursively, image extensions only) and globs.

A folder walked skips hidden files and folders (`.cache/`, macOS's `._IMG_0001.jpg`), as a glob's `*` does; a hidden
file named on its own is read.

Neither a folder walk nor a glob's `**` enters a symlinked folder, so a link loop cannot recurse for ever and a
photo is not found again under another name; within one walk or one glob a real file comes once. A folder that
cannot be read is handed on as `Unreadable`, so it is reported rather than skipped without a word.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fmnist.runtime.image import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Unreadable:
    """A folder a walk or a glob could not list (no permission, a name too long, a symlink loop)."""

    path: Path
    reason: str

    @classmethod
    def of(cls, error: OSError) -> Unreadable:
        return cls(Path(os.fsdecode(error.filename or "")), error.strerror or str(error))


@dataclass(frozen=True)
class Unmatched(Unreadable):
    """A glob that matches no image: no file, or none with an image's name, nor a folder that holds one."""


Found = Path | Unreadable
Listed = tuple[Path, list[str]]  # a folder and the names of the files in it
GONE = (FileNotFoundError, NotADirectoryError)  # nothing there to match: a glob then finds nothing, as glob.glob


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _same(path: str, skip: Path | None) -> bool:
    return skip is not None and Path(os.path.realpath(path)) == skip


def _walk_folders(folder: Path, skip: Path | None) -> Iterator[Listed | Unreadable]:
    """(folder, its file names) for `folder` and every folder below it, sorted; os.walk never follows a symlinked
    folder. `skip` (classify's --save folder) is not entered, nor hidden folders; a folder that cannot be listed
    comes as Unreadable, where the walk met it."""
    errors: list[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=errors.append):
        yield from _unreadable(errors)
        errors.clear()
        dirs[:] = sorted(d for d in dirs if not _same(os.path.join(root, d), skip) and not _hidden(d))
        yield Path(root), sorted(files)
    yield from _unreadable(errors)


def _unreadable(errors: list[OSError]) -> Iterator[Unreadable]:
    """The walk's errors but for a folder gone meanwhile (nothing in it to classify any more)."""
    return (Unreadable.of(e) for e in errors if not isinstance(e, GONE))


def _walk(folder: Path, skip: Path | None) -> Iterator[Found]:
    """Images under `folder` but hidden ones, sorted, and the folders below it that could not be read."""
    for found in _walk_folders(folder, skip):
        if isinstance(found, Unreadable):
            yield found
        else:
            root, files = found
            yield from (root / f for f in files if _is_image(f) and not _hidden(f))


def _names(folder: Path, pattern: str) -> Iterator[Found]:
    """The names in `folder` that match one glob part; as glob.glob, `*` does not match a hidden name."""
    try:
        names = sorted(os.listdir(folder))
    except GONE:
        return
    except OSError as e:
        yield Unreadable(folder, e.strerror or str(e))
        return
    keep_hidden = _hidden(pattern)
    yield from (folder / n for n in names if fnmatch.fnmatchcase(n, pattern) and (keep_hidden or not _hidden(n)))


def _select(folder: Path, parts: tuple[str, ...], skip: Path | None) -> Iterator[Found]:
    """The paths below `folder` that match the glob `parts`."""
    head, rest = parts[0], parts[1:]
    candidates: Iterable[Found]
    if head == "**" and not rest:
        candidates = [folder]  # every file below it: the folder, walked
    elif head == "**":  # the folder and every folder below it, symlinked ones not entered
        candidates = (f if isinstance(f, Unreadable) else f[0] for f in _walk_folders(folder, skip))
    elif glob.has_magic(head):
        candidates = _names(folder, head)
    else:
        candidates = [folder / head]
    for candidate in candidates:
        if isinstance(candidate, Unreadable):
            yield candidate
        elif not rest:
            if os.path.lexists(candidate):
                yield candidate
        elif _is_dir(candidate):
            yield from _select(candidate, rest, skip)


def _glob(pattern: str, skip: Path | None) -> Iterator[Found]:
    """What glob.glob(pattern, recursive=True) finds, except that `**` never enters a symlinked folder (3.11's glob
    does, for ever in a link loop): split at the first part with a wildcard, matched part by part from there."""
    parts = Path(pattern).parts
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    yield from _select(Path(*parts[:first]), parts[first:], skip)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a parent folder without search permission: the file is reported when it is read
        return False


def _matches(pattern: str, skip: Path | None) -> Iterator[Found]:
    """A glob's images: the files it matches and the images under the folders it matches."""
    for match in _glob(pattern, skip):
        if isinstance(match, Unreadable):
            yield match
        elif _is_dir(match):
            yield from _walk(match, skip)
        elif _is_image(match.name):
            yield match


def _once(found: Iterable[Found]) -> Iterator[Found]:
    """Each real file once: a symlink to a photo, or to a folder, already met is not met again."""
    seen: set[str] = set()
    for item in found:
        if isinstance(item, Path):
            real = os.path.realpath(item)  # never raises (resolve does on a symlink loop)
            if real in seen:
                continue
            seen.add(real)
        yield item


def expand(inputs: list[str], skip: Path | None = None) -> Iterator[Found]:
    """Every path to classify, in order, with the folders that could not be read. A name that is no file is
    yielded as is, so it is reported, and a glob that matches no image as Unmatched. A folder `skip` (classify's
    --save folder) met while walking is left out, as are the hidden files and folders below a folder walked."""
    skip = Path(os.path.realpath(skip)) if skip else None
    for item in inputs:
        path = Path(item).expanduser()
        if _is_dir(path):
            yield from _once(_walk(path, skip))
        elif path.is_symlink() or path.exists() or not glob.has_magic(item):
            yield path
        else:
            found = False
            for match in _once(_matches(os.path.expanduser(item), skip)):
                found = True
                yield match
            if not found:
                yield Unmatched(path, "matches no image")


URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")  # a scheme of two letters or more: a drive letter (C://) is none


def is_uri(name: str) -> bool:
    """s3://bucket/key and the like: read by classify --ray only. Told by its scheme alone, so no name raises (as
    urlsplit does on 'x://[ab]/p.jpg')."""
    return URI.match(name) is not None
