"""Native stderr silenced while a client's upload decodes: libjpeg ("Corrupt JPEG data: 297 extraneous bytes") and
OpenCV ("[ERROR:0@...] imdecode_ ...") print a client's bad upload to fd 2 on their own, and the server's stderr
is for fmnist's own problems. fd 2 is one per process and the workers decode at once, so it is pointed at
/dev/null by the first decode under way and given back by the last (fmnist.core.quiet.quiet_stderr).

fmnist's own lines (the live loop's progress, a fault's traceback) are written by Python, not by a decoder: a server
process calls `keep_python_stderr` once at its start, so that Python's stderr writes to a copy of fd 2 that muting
does not touch, and none of them is lost while an upload decodes."""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from fmnist.core.quiet import quiet_stderr

_lock = threading.Lock()
_held = 0
_stack = ExitStack()


@contextmanager
def muted() -> Iterator[None]:
    """fd 2 at /dev/null for the block, however many threads are in such a block at once."""
    global _held
    with _lock:
        if _held == 0:
            _stack.enter_context(quiet_stderr())
        _held += 1
    try:
        yield
    finally:
        with _lock:
            _held -= 1
            if _held == 0:
                _stack.close()


def keep_python_stderr() -> None:
    """Python's stderr (sys.stderr) on a copy of fd 2 from now on: `muted` then silences the native libraries'
    writes to fd 2 and never Python's. Once per process, before the server starts; a stderr that is not fd 2 (a
    test's captured stream) is left as it is."""
    try:
        if sys.stderr.fileno() != 2:
            return
    except (AttributeError, OSError, ValueError):  # None, or a stream in memory
        return
    sys.stderr.flush()
    encoding, errors = sys.stderr.encoding or "utf-8", sys.stderr.errors or "backslashreplace"
    kept = io.TextIOWrapper(io.FileIO(os.dup(2), "w"), encoding=encoding, errors=errors, line_buffering=True,
                            write_through=True)
    kept.fmnist_kept = True  # type: ignore[attr-defined]
    sys.stderr = kept
