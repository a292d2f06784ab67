"""classify on every core (fmnist.runtime.workers): the same lines in the same order as one process, --save's copies
each once, a handful of photos without a pool, a worker killed mid-run losing and repeating nothing, and Ctrl-C or
SIGTERM stopping the workers with the count written."""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import pty
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.runtime import workers
from fmnist.runtime.classifier import Classifier

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "examples" / "photos").glob("*.jpg"))
MANY = workers.SMALL + 6  # just past the pool's threshold
runner = CliRunner()


@functools.cache
def _variant(index: int, turned: bool, side: int) -> bytes:
    """Sample photo `index`, turned upside down or not, resized: its JPEG bytes, encoded once for every folder."""
    photo = cv2.imread(str(PHOTOS[index]))
    photo = cv2.resize(cv2.rotate(photo, cv2.ROTATE_180) if turned else photo, (side, side * 4 // 3))
    return cv2.imencode(".jpg", photo)[1].tobytes()


def _folder(folder: Path, count: int = MANY, side: int = 240) -> Path:
    """`count` small photos (the sample photos turned and resized) and one broken file among them."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i:03d}.jpg").write_bytes(_variant(i % len(PHOTOS), i % 3 == 0, side))
    (folder / "050.jpg").write_bytes(b"not a photo")
    return folder


def _lines(*args: str) -> tuple[int, list[dict], str]:
    got = runner.invoke(app, ["classify", *args, "--json"])
    lines = [json.loads(line) for line in got.stdout.splitlines()]
    for line in lines:
        line.pop("ms", None)  # the time is the only field that may differ
    return got.exit_code, lines, got.stderr


@pytest.mark.slow
def test_the_pool_gives_one_process_lines_in_order(tmp_path):
    folder = _folder(tmp_path / "photos")
    one = _lines(str(folder), "--threads", "1")
    many = _lines(str(folder), "--threads", "2")
    assert one[0] == many[0] == 1  # the broken file
    assert many[1] == one[1] and len(one[1]) == MANY
    assert [Path(line["input"]).name for line in many[1]] == [f"{i:03d}.jpg" for i in range(MANY)]
    assert "not an image" in many[1][50]["error"]
    assert many[2].strip() == one[2].strip() == (f"error: 1 of {MANY} inputs could not be classified (their JSON "
                                                 "lines say why)")


@pytest.mark.slow
def test_the_pools_annotated_copies_are_written_once_and_never_read_back(tmp_path):
    folder = _folder(tmp_path / "photos")
    code, lines, _ = _lines(str(folder / "*.jpg"), "--save", str(folder), "--threads", "2")  # the glob meets them
    assert code == 1 and len(lines) == MANY  # the copies written meanwhile are not inputs
    copies = sorted(p.name for p in folder.glob("*-2.jpg"))
    assert len(copies) == MANY - 1 and copies[0] == "000-2.jpg"
    assert all(cv2.imread(str(folder / name)) is not None for name in copies)


@pytest.mark.slow
def test_a_handful_of_photos_starts_no_pool(tmp_path, monkeypatch):
    folder = _folder(tmp_path / "photos", count=workers.SMALL - 1)

    def no_pool(self: workers.Pool) -> None:
        raise AssertionError("a pool was started for a handful of photos")

    monkeypatch.setattr(workers.Pool, "open", no_pool)
    code, lines, _ = _lines(str(folder), "--threads", "2")
    assert code == 1 and len(lines) == workers.SMALL - 1


def test_many_photos_use_every_core_by_default(tmp_path, monkeypatch):
    folder = _folder(tmp_path / "photos")
    started = []

    def counted(self: workers.Pool) -> None:
        started.append(self.workers)
        raise KeyboardInterrupt  # stops the run here, as Ctrl-C would

    monkeypatch.setattr(workers.Pool, "open", counted)
    got = runner.invoke(app, ["classify", str(folder), "--json"])  # --threads 0, the default: one per core
    assert started == [len(os.sched_getaffinity(0))] and got.exit_code == 130


@pytest.mark.slow  # a pool started twice
@pytest.mark.parametrize("seen", ["by a result", "by the next chunk"])
def test_a_worker_killed_mid_run_loses_and_repeats_nothing(tmp_path, seen):
    """The pool learns of the death from a chunk's result, or, when it learnt before the run goes on, as the next
    chunk is handed to it (which then raised: a lost run, once in a loaded test run)."""
    folder = _folder(tmp_path / "photos", count=120)
    classifier = Classifier("photo", threads=1)
    expected = [(str(o.path), o.result.best.label if o.result else o.error)
                for o in workers.classify_all(classifier, [str(folder)], 1)]
    saved = tmp_path / "saved"
    run = workers.classify_all(classifier, [str(folder)], 2, save=saved)
    got = [next(run)]
    children = multiprocessing.active_children()  # the pool's workers (the forkserver is no Process)
    assert len(children) == 2
    os.kill(children[0].pid, signal.SIGKILL)
    if seen == "by the next chunk":  # the executor marks the pool broken, then ends the other worker: wait for that
        children[1].join(10)
        assert not children[1].is_alive()
    got += list(run)
    assert [(str(o.path), o.result.best.label if o.result else o.error) for o in got] == expected
    kept = [o.saved for o in got if o.result is not None]
    assert all(path is not None and path.is_file() for path in kept)  # every photo read has its copy
    # a second copy (<stem>-2.jpg) only for the chunks the two workers were on: a chunk done before the death keeps
    # its outcomes and is not classified and saved again
    copies = [p for p in saved.iterdir() if not p.name.startswith(".fmnist-")]  # not the killed one's half copy
    assert len(kept) <= len(copies) <= len(kept) + 2 * workers.CHUNK


def _marked_children(mark: str) -> list[int]:
    """The processes (a run's workers and forkserver) whose environment holds `mark`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if mark.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.slow  # a real process, stopped mid-run
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_ends_its_workers_and_says_how_many_were_written(tmp_path, stop):
    folder = _folder(tmp_path / "photos", count=600)
    out = tmp_path / "out.jsonl"
    mark = f"FMNIST_TEST_RUN={uuid.uuid4()}"
    env = {**os.environ, mark.split("=")[0]: mark.split("=")[1]}
    with out.open("w") as stdout:
        # SIGINT as a shell leaves it: an xdist worker ignores it, and a child would inherit that
        process = subprocess.Popen([sys.executable, "-m", "fmnist", "classify", str(folder), "--json",
                                    "--threads", "2"], stdout=stdout, stderr=subprocess.PIPE, env=env, text=True,
                                   cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        while out.stat().st_size == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(stop)
        _, err = process.communicate(timeout=30)
    lines = out.read_text().splitlines()
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == f"interrupted: {len(lines)} photos written"
    assert "Traceback" not in err and 0 < len(lines) < 600
    assert all(json.loads(line)["input"] for line in lines)  # whole lines only
    time.sleep(0.5)
    assert _marked_children(mark) == []  # no worker left running


@pytest.mark.slow  # a real process on a terminal
def test_a_long_run_to_a_file_shows_progress_on_the_terminal(tmp_path):
    folder = _folder(tmp_path / "photos", count=200)
    out = tmp_path / "out.jsonl"
    leader, follower = pty.openpty()
    with out.open("w") as stdout:
        process = subprocess.Popen([sys.executable, "-m", "fmnist", "classify", str(folder), "--json"],
                                   stdout=stdout, stderr=follower, cwd=ROOT)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
        process.wait(30)
    os.close(leader)
    assert process.returncode == 1  # the broken file
    assert b"classified" in seen and b"/s" in seen
    assert len(out.read_text().splitlines()) == 200  # the lines went to the file, not to the terminal
