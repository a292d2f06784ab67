"""Where fmnist keeps what it can make again: $FMNIST_CACHE, else $XDG_CACHE_HOME/fmnist or ~/.cache/fmnist."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_VAR = "FMNIST_CACHE"


def cache_root() -> Path:
    given = os.environ.get(CACHE_VAR)
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fmnist"
