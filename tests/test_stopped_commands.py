"""bench and export stopped from outside (SIGTERM: systemctl stop, timeout, a closed terminal) end as Ctrl-C ends
them: exit 130 and one line, bench's timing workers ended with it, export's build folder removed."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

FMNIST = Path(sys.executable).parent / "fmnist"


def _stopped_once(command: list[str], ready: Callable[[int], bool],
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `command`, SIGTERM it 0.3 s after `ready()` is true (it is working there), and return how it ended."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as running:
        deadline = time.monotonic() + timeout
        while not ready(running.pid) and running.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.poll() is None, "it ended before it got there"
        time.sleep(0.3)
        running.send_signal(signal.SIGTERM)
        stdout, stderr = running.communicate(timeout=60)
    return subprocess.CompletedProcess(command, running.returncode, stdout, stderr)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.slow  # real processes
def test_bench_stopped_while_timing_ends_its_workers():
    workers: list[int] = []

    def timing(pid: int) -> bool:
        workers[:] = _children(pid)
        return len(workers) == 2  # a process a row

    got = _stopped_once([str(FMNIST), "bench", "-m", "edge", "-m", "photo", "--threads", "1", "--batch-size", "1",
                         "--iterations", "10000000", "--rounds", "1"], timing)
    assert got.returncode == 130 and got.stdout == "", got
    assert got.stderr.endswith("interrupted: no figures (a bench reports only whole rounds)\n"), got.stderr
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers)), "a worker was left timing"


@pytest.mark.slow  # TensorFlow
@pytest.mark.xdist_group("tensorflow")  # on the worker that has it loaded: run here, in this process
def test_export_stopped_while_building_leaves_no_build_folder(tiny_run, tmp_path):
    """SIGTERM sent to this process while export builds (its handler is export's own then; a no-op of the test's
    before and after it, should the stop come late)."""
    import threading

    from typer.testing import CliRunner

    from fmnist.cli import app

    run, out = tmp_path / "run", tmp_path / "out"
    run.mkdir()
    shutil.copy(tiny_run[0] / "model.keras", run)
    building = str(out / ".fmnist-export-*" / "*")  # a file in the build folder: a converter at work

    def stop_once_building() -> None:
        deadline = time.monotonic() + 120
        while not glob.glob(building) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        stopper = threading.Thread(target=stop_once_building, daemon=True)
        stopper.start()
        got = CliRunner().invoke(app, ["export", str(run), "--int8", "--out", str(out)])
        stopper.join(10)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert got.exit_code == 130, got.output
    assert got.stderr.splitlines()[-1] == ("interrupted: the files it had checked and put in place are whole; the "
                                           "rest and the parity report were not written (run the export again)")
    assert not [p for p in os.listdir(out) if p.startswith(".fmnist-export-")]
    assert not [p for p in os.listdir(out) if p.endswith(".tmp.png")]
