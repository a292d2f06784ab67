"""A process's resident memory, for the soak test and the soak benchmark."""

from __future__ import annotations

import os
from pathlib import Path


def rss_bytes() -> int:
    """This process's resident memory now (Linux; 0 elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0
