"""Expand classify's INPUT arguments: files, folders (recursively, image extensions only) and globs."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

from fmnist.runtime.preprocess import IMAGE_EXTENSIONS


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _walk(folder: Path) -> Iterator[Path]:
    # os.walk does not follow symlinked folders, so a link loop cannot recurse forever
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        yield from (Path(root) / f for f in sorted(files) if _is_image(f))


def expand(inputs: list[str]) -> Iterator[Path]:
    """Every path to classify, in order. A name that matches nothing is yielded as is, so it is reported."""
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            yield from _walk(path)
        elif path.exists() or not glob.has_magic(item):
            yield path
        else:
            matches = sorted(glob.glob(os.path.expanduser(item), recursive=True))
            if not matches:
                yield path  # reported as missing
            for match in matches:
                if Path(match).is_dir():
                    yield from _walk(Path(match))
                elif _is_image(match):
                    yield Path(match)
