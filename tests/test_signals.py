"""fmnist.core.signals: stop signals as Ctrl-C, and steps that a stop does not cut in half."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import cv2
import pytest
from videos import small_video

from fmnist.core.signals import Stopped, stop_as_interrupt, stopped_within, whole
from fmnist.runtime.video.live import LiveConfig, run
from fmnist.runtime.video.preview import Preview

STOPS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


@pytest.fixture(autouse=True)
def _handlers_put_back():
    """A stop leaves the stop signals ignored for the rest of the process (it is ending): not the test suite's."""
    before = {s: signal.getsignal(s) for s in STOPS}
    yield
    for s, handler in before.items():
        signal.signal(s, handler)


def test_a_stop_inside_a_whole_step_lands_as_the_step_ends():
    done = []
    with stop_as_interrupt(), pytest.raises(Stopped) as stopped:
        with whole():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)  # a service manager's second stop
            done.append("written")
            done.append("counted")
        done.append("the next frame")
    assert done == ["written", "counted"] and stopped.value.args == ("SIGTERM",)


def test_ctrl_c_inside_a_whole_step_is_a_keyboard_interrupt_at_its_end():
    # Python's own Ctrl-C handler, as in a terminal (a suite started in the background inherits SIGINT ignored)
    started_with = signal.signal(signal.SIGINT, signal.default_int_handler)
    done = []
    try:
        with pytest.raises(KeyboardInterrupt), whole():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("counted")
        assert done == ["counted"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, started_with)


def test_without_a_stop_a_whole_step_puts_every_handler_back():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    with stop_as_interrupt():
        inside = {s: signal.getsignal(s) for s in before}
        with whole():
            pass
        assert {s: signal.getsignal(s) for s in before} == inside
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_stop_outside_a_whole_step_still_interrupts_at_once():
    with stop_as_interrupt(), pytest.raises(Stopped):
        os.kill(os.getpid(), signal.SIGHUP)
        pytest.fail("the stop did not interrupt")


def test_a_second_ctrl_c_does_not_cut_the_cleanup_short():
    # a user pressing Ctrl-C twice: the second one used to land before the cleanup's hold(), and the run ended with
    # no summary (exit 130)
    started_with = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with stop_as_interrupt():
            with pytest.raises(KeyboardInterrupt) as first:
                os.kill(os.getpid(), signal.SIGINT)
            try:  # the cleanup, before any hold() of its own
                os.kill(os.getpid(), signal.SIGINT)
            except KeyboardInterrupt:
                pytest.fail("a second Ctrl-C interrupted the cleanup")
        assert not isinstance(first.value, Stopped)
    finally:
        signal.signal(signal.SIGINT, started_with)


def test_an_ignored_ctrl_c_stays_ignored():
    # a background job: the shell started it with SIGINT ignored
    started_with = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stop_as_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, started_with)


def test_after_a_stop_the_program_ends_without_a_second_one_cutting_it_short():
    # live's summary is said after its stop_as_interrupt block: a second SIGTERM 25-75 ms after the first killed
    # the process there (exit -15, the summary sometimes lost)
    with stop_as_interrupt(), pytest.raises(Stopped):
        os.kill(os.getpid(), signal.SIGTERM)
    assert all(signal.getsignal(s) is signal.SIG_IGN for s in STOPS)


def test_a_stop_python_could_only_print_is_raised_again_where_the_run_goes_on():
    """A SIGHUP that landed in one of TensorFlow's weakref callbacks was printed ("Exception ignored in …") and
    export went on to its end, every later stop ignored."""
    import weakref

    class Thing:
        pass

    def callback(_ref: object) -> None:
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(10_000):  # the handler runs here, in the callback
            pass

    with stop_as_interrupt(), pytest.raises(Stopped):
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing  # the callback runs now
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the run going on
            pass
        pytest.fail(f"the stop was lost ({ref})")


def test_a_stop_sent_again_after_its_block_ended_is_held_as_the_program_ends():
    """The re-sent stop of one swallowed just before the block's end came once SIGTERM's default was back: the
    process was killed (exit 143), its last lines and finally blocks lost."""
    import subprocess
    import sys

    code = """if True:
        import os, signal, time, weakref
        from fmnist.core.signals import stop_as_interrupt
        class Thing: pass
        def callback(_ref):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100_000):
                pass
        with stop_as_interrupt():
            thing = Thing(); ref = weakref.ref(thing, callback); del thing
        time.sleep(0.5)  # the re-send comes 50 ms after the stop
        print("the program's last line")
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "the program's last line\n", done


def test_a_stop_after_one_a_library_swallowed_is_raised_once_the_grace_has_passed(monkeypatch):
    monkeypatch.setattr("fmnist.core.signals.GRACE_SECONDS", 0.05)
    with stop_as_interrupt():
        try:  # a library's bare except
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10_000):
                pass
        except KeyboardInterrupt:
            pass
        os.kill(os.getpid(), signal.SIGTERM)  # at once: the same request, ignored for the cleanup
        for _ in range(10_000):
            pass
        time.sleep(0.1)
        with pytest.raises(Stopped):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10_000):
                pass


def test_an_error_a_stop_caused_is_told_as_the_stop():
    try:
        try:
            raise Stopped(signal.SIGTERM)
        except KeyboardInterrupt:
            raise ImportError("initialization failed")  # noqa: B904 (what a C extension's import does)
    except ImportError as e:
        assert stopped_within(e)
    assert not stopped_within(ValueError("no stop"))


def test_an_error_inside_a_whole_step_is_what_leaves_it_not_a_stop_it_held():
    with stop_as_interrupt(), pytest.raises(OSError, match="disk full"), whole():
        os.kill(os.getpid(), signal.SIGTERM)
        raise OSError("disk full")


class _StopOnPublish(Preview):
    """A real preview, and a service manager that sends SIGTERM just as frame `at` is published: after it was
    written to the recording, before the loop counted it."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.published = at, 0

    def publish(self, jpeg: bytes, status: dict, seen: bytes = b"") -> None:
        super().publish(jpeg, status, seen)
        self.published += 1
        if self.published == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


def test_live_stopped_between_recording_a_frame_and_counting_it_counts_what_it_recorded(tmp_path):
    video, recording = small_video(tmp_path / "v.mp4", 12), tmp_path / "rec.mp4"
    summary = run(LiveConfig(source=str(video), model=Path("edge"), display=False, record=recording),
                  preview=_StopOnPublish(at=4))
    capture = cv2.VideoCapture(str(recording))
    assert summary.interrupted and summary.stopped_by == "SIGTERM"
    assert summary.frames == 4 == int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
