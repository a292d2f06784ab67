"""Stop requests from outside (systemctl stop, docker stop, timeout, a closed terminal) as Ctrl-C.

Python turns only SIGINT into KeyboardInterrupt; SIGTERM and SIGHUP kill the process at once, so a loop's
`finally` never runs and a recording is left without its index. Inside `stop_as_interrupt()` they raise
KeyboardInterrupt too, and the loop ends the way Ctrl-C ends it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

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
_when: list[float] = []  # when the last of them was raised (time.monotonic), or nothing
# a stop this soon after the one raised is the same request (a user pressing Ctrl-C twice, a service manager's
# repeat): ignored, so that the cleanup the first began runs whole. Later it is raised again: the first may have
# landed where it was swallowed (a library's bare except), and the run must still be stoppable.
GRACE_SECONDS = 2.0
REDELIVER_SECONDS = 0.05  # a stop Python could only print is sent again this much later


def _in_grace() -> bool:
    return bool(_when) and time.monotonic() - _when[0] < GRACE_SECONDS


def _taking(signum: int) -> bool:
    """Take a stop (counted, its time kept), unless it comes within the grace of the last: a second stop must not
    cut the cleanup short."""
    if _in_grace():
        return False
    _taken.append(signum)
    _when[:] = [time.monotonic()]
    return True


def _raise(signum: int, _frame: FrameType | None) -> None:
    if _taking(signum):
        raise Stopped(signum)


def _ctrl_c(_signum: int, _frame: FrameType | None) -> None:
    """Python's own KeyboardInterrupt: a second Ctrl-C (a user pressing it twice) must not cut the cleanup short
    either, as it did when it landed before the cleanup's hold()."""
    if _taking(signal.SIGINT):
        raise KeyboardInterrupt


def _delivered_again(previous: Callable[[Any], object]) -> Callable[[Any], object]:
    """sys.unraisablehook: a stop raised inside a finalizer or a weakref callback (TensorFlow's, while a stop came
    in) is only printed by Python ("Exception ignored in …") and the run went on. It is raised again instead, at the
    next line the main thread runs. Anything else goes to `previous`."""

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt) or not _when:
            previous(unraisable)
            return
        _when.clear()  # not a cleanup under way: the stop never arrived
        signum = _taken[-1]  # still counted: the block's end holds a stop it re-sends too late (hold())
        # sent again once the hook has returned: raised inside it, it would be lost too
        again = threading.Timer(REDELIVER_SECONDS, os.kill, (os.getpid(), signum))
        again.daemon = True
        again.start()

    return hook


def stopped_within(error: BaseException) -> bool:
    """Did a stop (Stopped or Ctrl-C's KeyboardInterrupt) cause `error`? A C extension being imported when it came
    turns it into an ImportError ("initialization failed"), a library's loop into its own error."""
    seen: set[int] = set()
    found: BaseException | None = error
    while found is not None and id(found) not in seen:
        if isinstance(found, KeyboardInterrupt):
            return True
        seen.add(id(found))
        found = found.__cause__ or found.__context__
    return False


@contextmanager
def stop_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise `Stopped` (a KeyboardInterrupt) inside the block, and Ctrl-C its KeyboardInterrupt;
    another stop within GRACE_SECONDS is ignored (for the cleanup), a later one raised again (the first may have
    been swallowed; one Python could only print is raised again at once), and after a stop the block's end ignores
    all three (`hold()`), since the program is ending: its last lines (live's summary) and its exit code are not
    cut short by a second stop. Without a stop the old handlers come back after the block. Signals can be handled
    only in the main thread: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in STOP_SIGNALS}
    previous[signal.SIGINT] = signal.getsignal(signal.SIGINT)  # hold() may ignore it: put it back after
    if previous[signal.SIGINT] is signal.default_int_handler:  # ignored (a background job) stays ignored
        signal.signal(signal.SIGINT, _ctrl_c)
    stops, unraisable = len(_taken), sys.unraisablehook
    _when.clear()  # a block of its own: a stop in an earlier one, long handled, grants no grace here
    sys.unraisablehook = _delivered_again(unraisable)
    try:
        yield
    finally:
        sys.unraisablehook = unraisable
        if len(_taken) > stops:
            hold()  # the program is ending: its last lines and its exit code are not cut short by a second stop
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
