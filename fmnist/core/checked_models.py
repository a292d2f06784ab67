"""Model files that passed the model check, remembered by the sha256 of their bytes, so that a file is checked once
and not at every start: parsing the photo model and following its 281 nodes costs about 30 ms (protobuf's import
included), 3 ms to hash it. A model whose bytes differ in one bit is checked anew; a new check (CHECK_VERSION) forgets
every earlier pass. The marker is an empty file in the cache folder: a user who can write there can already run code
as themselves."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from fmnist.core.cache import cache_root

# Bump whenever fmnist.core.model_check changes what it passes (its operators, rules or bounds).
CHECK_VERSION = 1


def marker(data: bytes) -> Path:
    return cache_root() / "checked-models" / f"v{CHECK_VERSION}-{hashlib.sha256(data).hexdigest()}"


def passed_before(path: Path) -> bool:
    """Only an empty regular file is a pass: a symlink, a folder or a pipe under the name is not."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == 0


def remember(path: Path) -> None:
    """Mark the bytes as checked; a cache folder that cannot be written only means the next start checks again. A
    pipe or a symlink put under the name is neither waited on nor followed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644))
    except OSError:
        pass
