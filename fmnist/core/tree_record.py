"""A folder fmnist makes whole and swaps into place (a bundle, a fetched photo set) keeps a record of every file in
it, with its sha256. An earlier copy is replaced only while it holds just those files, unchanged: a file a user
added or edited there, or a folder of the user's under the same name, is never removed with it."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fmnist.core.bounded import sha256_regular
from fmnist.core.errors import listed

RECORD_LIMIT = 8 << 20  # bytes: a photo set's record of 3,800 files is about 400 KB; a bigger file is not one


def _files(folder: Path, enter: Callable[[Path], bool] = lambda _: True) -> Iterator[Path]:
    """Every entry under `folder`, a folder's entries in name order before those of its subfolders, each subfolder
    entered only if `enter` says so; symlinks not followed (a symlink is an entry, not a folder). A stack, not
    recursion: a folder nested thousands deep is walked, not a RecursionError."""
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            found = sorted(entries, key=lambda e: e.name)
        yield from (Path(entry.path) for entry in found)
        stack.extend(Path(entry.path) for entry in reversed(found)
                     if entry.is_dir(follow_symlinks=False) and enter(Path(entry.path)))


def _key(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _folders_of(keys: dict[str, str]) -> set[str]:
    """Every folder on the way to each of `keys` ("a/b/c.jpg": "a" and "a/b")."""
    folders = set()
    for key in keys:
        parts = key.split("/")[:-1]
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return folders


def record_tree(folder: Path, name: str, made_by: str) -> None:
    """Write `folder`/`name`: each regular file now under `folder` (relative POSIX path) and its sha256."""
    found = {_key(p, folder): sha256_regular(p) for p in _files(folder)}  # None: not a regular file
    files = {key: digest for key, digest in found.items() if digest is not None}
    (folder / name).write_text(json.dumps({"made_by": made_by, "files": files}, indent=2) + "\n")


def read_record(folder: Path, name: str) -> dict[str, str] | None:
    """The files `folder`/`name` records; None if it is not such a record (missing, not a regular file, over
    RECORD_LIMIT, not the JSON record_tree writes). Its size is checked before it is read."""
    path = folder / name
    try:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode) or found.st_size > RECORD_LIMIT:
            return None
        files = json.loads(path.read_bytes()).get("files")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return None
    return files


def not_as_recorded(folder: Path, recorded: dict[str, str], writer: str,
                    skip: Callable[[Path], bool] = lambda _: False) -> list[str]:
    """What under `folder` `writer` did not write, or has changed since: a file not in `recorded` or whose sha256
    differs, a symlink, a pipe, a folder holding no recorded file. `skip`: entries at the top not to judge (the
    record itself). OSError if a part cannot be read."""
    holding = _folders_of(recorded)
    found = []
    for path in _files(folder, enter=lambda sub: _key(sub, folder) in holding):  # a folder of yours: named once
        key = _key(path, folder)
        if path.parent == folder and skip(path):
            continue
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode):
            if key not in holding:
                found.append(f"{key}/ (not written by {writer})")
        elif key not in recorded:
            found.append(f"{key} (not written by {writer})")
        elif sha256_regular(path) != recorded[key]:  # None: not a regular file (now)
            found.append(f"{key} (edited)")
    return sorted(found)


@dataclass(frozen=True)
class Refusal:
    """Why a folder may not be replaced: "not made" (no record of ours in it: not a folder, a link, or no regular
    file by the record's name), "no list" (a record listing no files, as an older fmnist wrote), "changed" (`detail`
    lists what is not as recorded) or "unreadable" (`detail` is the system's reason)."""

    reason: Literal["not made", "no list", "changed", "unreadable"]
    detail: str = ""


def _holds_record(found: Path, name: str) -> bool:
    """Is `found` a folder (not a link) holding a regular file `name`? OSError other than its absence is raised."""
    try:
        return not found.is_symlink() and found.is_dir() and stat.S_ISREG(os.lstat(found / name).st_mode)
    except FileNotFoundError:
        return False


def refusal(found: Path, name: str, writer: str, skip: Callable[[Path], bool] = lambda _: False) -> Refusal | None:
    """None if `found` is a folder `writer` made, holding just the files its record `name` lists, unchanged: the
    one rule by which a bundle or a fetched photo set replaces an earlier copy. `skip` as for not_as_recorded (the
    record itself is always skipped)."""
    try:
        if not _holds_record(found, name):
            return Refusal("not made")
        recorded = read_record(found, name)
        if recorded is None:
            return Refusal("no list")
        changed = not_as_recorded(found, recorded, writer, skip=lambda entry: entry.name == name or skip(entry))
    except OSError as e:  # a file that vanishes mid-walk included: it cannot be judged
        return Refusal("unreadable", e.strerror or str(e))
    return Refusal("changed", listed(changed)) if changed else None
