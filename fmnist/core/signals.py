"""Stop requests from outside (systemctl stop, docker stop, timeout, a closed terminal) as Ctrl-C.

Python turns only SIGINT into KeyboardInterrupt; SIGTERM and SIGHUP kill the process at once, so a loop's
`finally` never runs and a recording is left without its index. Inside `stop_as_interrupt()` they raise
KeyboardInterrupt too, and the loop ends the way Ctrl-C ends it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """A stop signal, raised where the program was: handled wherever Ctrl-C is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def hold() -> None:
    """From here to the end of the block, stop signals are ignored: the cleanup (a recording's index) runs whole,
    however many a service manager or a shell sends."""
    if threading.current_thread() is threading.main_thread():
        for s in (*STOP_SIGNALS, signal.SIGINT):  # a second Ctrl-C too
            signal.signal(s, signal.SIG_IGN)


_taken: list[int] = []  # the stops _raise and _ctrl_c have taken in this process


def _raise(signum: int, _frame: FrameType | None) -> None:
    hold()  # a second stop must not cut the cleanup short
    _taken.append(signum)
    raise Stopped(signum)


def _ctrl_c(_signum: int, _frame: FrameType | None) -> None:
    """Python's own KeyboardInterrupt, once: a second Ctrl-C (a user pressing it twice) must not cut the cleanup
    short either, as it did when it landed before the cleanup's hold()."""
    hold()
    _taken.append(signal.SIGINT)
    raise KeyboardInterrupt


@contextmanager
def stop_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise `Stopped` (a KeyboardInterrupt) inside the block, once, and Ctrl-C its
    KeyboardInterrupt once; either then ignores all three for the rest of the block (`hold()`: for cleanup) and
    after it, since the program is ending: its last lines (live's summary) and its exit code are not cut short by
    a second stop. Without a stop the old handlers come back after the block. Signals can be handled only in the
    main thread: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in STOP_SIGNALS}
    previous[signal.SIGINT] = signal.getsignal(signal.SIGINT)  # hold() may ignore it: put it back after
    if previous[signal.SIGINT] is signal.default_int_handler:  # ignored (a background job) stays ignored
        signal.signal(signal.SIGINT, _ctrl_c)
    stops = len(_taken)
    try:
        yield
    finally:
        for s, handler in previous.items():
            if handler is not None and len(_taken) == stops:  # None: installed outside Python, nothing to put back
                signal.signal(s, handler)


@contextmanager
def whole() -> Iterator[None]:
    """A step that must happen whole (a frame written to the recording, counted and printed): a stop signal or Ctrl-C
    that arrives inside the block takes effect as it ends, through whatever handles that signal then
    (stop_as_interrupt's, hold()'s, Python's own). An error inside the block is what leaves it: the stops it held are
    dropped, since the error ends the step anyway. Signals can be handled only in the main thread: elsewhere this
    does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {s: signal.getsignal(s) for s in (*STOP_SIGNALS, signal.SIGINT)}
    mine = [s for s, handler in previous.items() if handler is not None]  # None: installed outside Python, left be
    try:
        for s in mine:
            signal.signal(s, lambda signum, _frame: arrived.append(signum))
        yield
    finally:
        for s in mine:
            signal.signal(s, previous[s])
    for signum in dict.fromkeys(arrived):  # once each (in the order Python ran the handlers)
        signal.raise_signal(signum)
