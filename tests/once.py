"""Work that several tests read, done once for the whole run even when pytest-xdist spreads those tests over its
workers."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]) -> Path:
    """The folder `name`, filled by `make(folder)` once for the whole run: pytest-xdist's workers share it (the
    first to ask makes it while holding a lock; the others wait, then read it), so the tests that use it need not
    share a worker. Tests read it and never write into it: they copy it first. Alone (no xdist), made here."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, even if make fails
        if not done.exists():  # a worker whose make failed left no mark: the next one tries again
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder
