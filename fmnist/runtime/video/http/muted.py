"""Native stderr silenced while a client's upload decodes: libjpeg ("Corrupt JPEG data: 297 extraneous bytes") and
OpenCV ("[ERROR:0@...] imdecode_ ...") print a client's bad upload to fd 2 on their own, and the server's stderr
is for fmnist's own problems. fd 2 is one per process and the workers decode at once, so it is pointed at
/dev/null by the first decode under way and given back by the last (fmnist.core.quiet.quiet_stderr)."""

from __future__ import annotations

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
