"""Expand classify's INPUT arguments: files, folders (recursively, image extensions only) and globs."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

from fmnist.runtime.image import IMAGE_EXTENSIONS


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _walk(folder: Path, skip: Path | None) -> Iterator[Path]:
    """Images under `folder`, sorted; a `skip` folder below it (classify's --save output) is not entered."""
    # os.walk does not follow symlinked folders, so a link loop cannot recurse forever
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if skip is None or Path(os.path.realpath(Path(root) / d)) != skip)
        yield from (Path(root) / f for f in sorted(files) if _is_image(f))


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a parent folder without search permission: the file is reported when it is read
        return False


def expand(inputs: list[str], skip: Path | None = None) -> Iterator[Path]:
    """Every path to classify, in order. A name that matches nothing is yielded as is, so it is reported.
    A folder `skip` (classify's --save folder) found while walking another folder is left out."""
    skip = Path(os.path.realpath(skip)) if skip else None
    for item in inputs:
        path = Path(item).expanduser()
        if _is_dir(path):
            yield from _walk(path, skip)
        elif path.is_symlink() or path.exists() or not glob.has_magic(item):
            yield path
        else:
            matches = sorted(glob.glob(os.path.expanduser(item), recursive=True))
            if not matches:
                yield path  # reported as missing
            for match in matches:
                if Path(match).is_dir():
                    yield from _walk(Path(match), skip)
                elif _is_image(match):
                    yield Path(match)
