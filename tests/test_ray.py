"""classify --ray (fmnist.deploy.on_ray) on a real local Ray with 2 CPUs, a bucket on a real local S3 server (moto's,
on 127.0.0.1), and an actor killed mid-run. One Ray and one S3 server for the module (Ray takes 5-10 s to start);
its tests run on one xdist worker."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fmnist.deploy
from fmnist.cli import app

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "examples" / "photos").glob("*.jpg"))
runner = CliRunner()


def _lines(stdout: str) -> list[dict]:
    lines = [json.loads(line) for line in stdout.splitlines()]
    for line in lines:
        line.pop("ms", None)
    return lines


def _folder(folder: Path, copies: int = 1) -> Path:
    folder.mkdir(parents=True)
    for n in range(copies):
        for photo in PHOTOS:
            shutil.copy(photo, folder / f"{n:02d}-{photo.name}")
    (folder / "zz-broken.jpg").write_bytes(b"\xff\xd8 not a photo")
    return folder


@dataclass(frozen=True)
class Cluster:
    started: str  # what starting Ray printed to fd 2


@pytest.fixture(scope="module")
def cluster():
    """A local S3 server with a bucket, its address in the environment the way pyarrow reads it (Ray's workers
    inherit it), and a local Ray on 2 CPUs."""
    ray = pytest.importorskip("ray")
    from moto.server import ThreadedMotoServer

    from fmnist.deploy import on_ray

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    before = dict(os.environ)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://{host}:{port}")
    with tempfile.TemporaryFile() as printed:  # fd 2, where Ray's C++ core prints on its own
        saved = os.dup(2)
        os.dup2(printed.fileno(), 2)
        try:
            assert on_ray.connect("local")  # as classify --ray local starts Ray
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        printed.seek(0)
        started = printed.read().decode(errors="replace")
    try:
        yield Cluster(started)
    finally:
        ray.shutdown()
        server.stop()
        os.environ.clear()
        os.environ.update(before)


def test_ray_without_ray_installed_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without fmnist[ray]
    monkeypatch.delitem(sys.modules, "fmnist.deploy.on_ray", raising=False)
    monkeypatch.delattr(fmnist.deploy, "on_ray", raising=False)
    got = runner.invoke(app, ["classify", str(PHOTOS[0]), "--ray", "local"])
    assert got.exit_code == 6
    assert got.stderr.strip() == "error: --ray needs Ray Data (ray is missing): pip install 'fmnist[ray]'"


@pytest.mark.parametrize(("args", "message"), [
    (["--ray", "10.0.0.1:6379"], "--ray takes local (a Ray on this machine), auto"),
    (["--out", "rows"], "--out applies only with --ray"),
    (["--ray", "local", "--save", "copies"], "--save writes annotated copies on this machine, which --ray does not"),
    (["--ray", "local", "--out", "."], ". already exists; choose another --out"),  # checked before Ray starts
    (["--ray", "local", "--out", "foo://bar/x"], "--out foo://bar/x: Unrecognized filesystem type in URI"),
])
@pytest.mark.slow
def test_ray_usage_errors_start_nothing(args, message):
    pytest.importorskip("ray")
    got = runner.invoke(app, ["classify", str(PHOTOS[0]), *args])
    assert got.exit_code == 2 and got.stderr.startswith(f"error: {message}"), got.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_starts_without_printing_its_own_log_lines(cluster):
    """Ray's C++ core said "Set ray log level from environment variable ..." on every run, and other libraries'
    lines are for fmnist --verbose."""
    assert cluster.started == ""


@pytest.mark.slow  # Ray: 5-10 s to start, 3-4 s a job
@pytest.mark.xdist_group("ray")
@pytest.mark.usefixtures("cluster")
def test_ray_local_gives_classify_s_lines_for_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative folder: each line names its photo as classify does, not made absolute
    folder = _folder(Path("photos"))
    os.mkfifo(folder / "zz-pipe.jpg")  # an error worded "cannot read PATH: ...", not "PATH: ..."
    local = runner.invoke(app, ["classify", str(folder), "--json"])
    on_ray = runner.invoke(app, ["classify", str(folder), "--ray", "local"])
    assert on_ray.exit_code == local.exit_code == 1  # the broken photo
    assert _lines(on_ray.stdout) == _lines(local.stdout) and len(_lines(local.stdout)) == len(PHOTOS) + 2
    assert _lines(on_ray.stdout)[0]["input"].startswith("photos/") and str(tmp_path) not in on_ray.stdout
    errors = [line["error"] for line in _lines(on_ray.stdout)[-2:]]
    assert "not an image" in errors[0] and "not a regular file" in errors[1]
    out = tmp_path / "rows"
    out.mkdir()
    (out / "mine.txt").write_text("mine")
    got = runner.invoke(app, ["classify", str(folder), "--ray", "local", "--out", str(out)])
    assert got.exit_code == 2 and "already exists; choose another --out" in got.stderr  # before Ray starts
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
@pytest.mark.usefixtures("cluster")
def test_a_long_run_on_ray_shows_progress_on_the_terminal(tmp_path, monkeypatch):
    """stderr a terminal (a pty), in this process's Ray: the lines to a file get classify's bar; rows written to
    --out get Ray Data's own display, which names the classifying stage. Before the test that kills an actor: the
    module's Ray reports that death later, on whatever sys.stdout is then."""
    folder = str(_folder(tmp_path / "photos", copies=7))  # 71 photos: a bar shows from the 64th
    lines = tmp_path / "lines.jsonl"
    shown = _on_a_terminal(monkeypatch, lines, ["classify", folder, "--ray", "local"])
    assert re.search(r"\d+ classified, [\d,]+/s", shown), shown[-2000:]  # the bar's "71 classified, 30/s"
    assert len(lines.read_text().splitlines()) == 71  # the lines went to the file, not to the terminal
    shown = _on_a_terminal(monkeypatch, tmp_path / "said.txt", ["classify", folder, "--ray", "local", "--out",
                                                                str(tmp_path / "rows")])
    assert "MapBatches(PhotoActor)" in shown and "100%" in shown, shown[-2000:]
    assert "71 rows written to" in shown


def _on_a_terminal(monkeypatch: pytest.MonkeyPatch, stdout: Path, args: list[str]) -> str:
    """fmnist ARGS in this process (its Ray), stdout to a file and stderr to a pty: what the terminal showed."""
    import pty
    import threading

    from fmnist.cli import main

    leader, follower = pty.openpty()
    seen: list[bytes] = []

    def read() -> None:  # drained as it comes: a full pty would block the writes
        while chunk := _read_or_nothing(leader):
            seen.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with os.fdopen(follower, "w", buffering=1) as terminal, stdout.open("w") as out:
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", terminal)
        monkeypatch.setattr(sys, "argv", ["fmnist", *args])
        with pytest.raises(SystemExit) as ended:
            main()
        monkeypatch.undo()
    reader.join(10)
    os.close(leader)
    assert ended.value.code == 1  # the broken photo
    return b"".join(seen).decode(errors="replace")


def _read_or_nothing(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal closed
        return b""


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
@pytest.mark.usefixtures("cluster")
def test_a_bucket_on_a_local_s3_server_is_read_and_written(tmp_path):
    import boto3
    import pyarrow.parquet as pq
    from pyarrow import fs

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="shop")
    for photo in [*PHOTOS, tmp_path / "broken.jpg"]:
        body = photo.read_bytes() if photo.exists() else b"\xff\xd8 not a photo"
        s3.put_object(Bucket="shop", Key=f"photos/{photo.name}", Body=body)
    for hidden in ("photos/.cache/e.jpg", "photos/._pants.jpg"):  # left out, as a folder walk leaves them
        s3.put_object(Bucket="shop", Key=hidden, Body=PHOTOS[0].read_bytes())
    got = runner.invoke(app, ["classify", "s3://shop/photos", "s3://shop/gone", "--ray", "local", "--out",
                              "s3://shop/rows"])
    assert got.exit_code == 1, got.stderr
    assert got.stderr.strip().splitlines()[-2:] == [
        f"{len(PHOTOS) + 2} rows written to s3://shop/rows",
        f"error: 2 of {len(PHOTOS) + 2} inputs could not be classified (their rows say why)"]
    rows = pq.read_table("shop/rows", filesystem=fs.FileSystem.from_uri("s3://shop/rows")[0]).to_pylist()
    assert set(rows[0]) == {"input", "label", "index", "score", "sure", "top", "error"}
    by_name = {row["input"].rsplit("/", 1)[1]: row for row in rows}
    assert sorted(by_name) == sorted([p.name for p in PHOTOS] + ["broken.jpg", "gone"])
    assert by_name["gone"]["error"] == "s3://shop/gone: no such file or folder"
    assert by_name["broken.jpg"]["label"] is None and "not an image" in by_name["broken.jpg"]["error"]
    local = {Path(line["input"]).name: line for line in _lines(runner.invoke(app, ["classify", *map(str, PHOTOS),
                                                                                   "--json"]).stdout)}
    for name, line in local.items():
        row = by_name[name]
        assert (row["label"], row["score"], row["sure"], row["top"]) == (line["label"], line["score"], line["sure"],
                                                                          line["top"])


def _actor_pids() -> list[int]:
    """The processes of Ray's actors that run fmnist's PhotoActor (Ray names each process after its actor)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"PhotoActor" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(int(pid))
        except OSError:
            continue
    return pids


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
@pytest.mark.usefixtures("cluster")
def test_an_actor_killed_mid_run_loses_and_duplicates_nothing(tmp_path):
    from fmnist.deploy import on_ray
    from fmnist.runtime.classifier import Classifier

    folder = _folder(tmp_path / "photos", copies=16)  # 161 photos, 11 batches
    # every photo is a copy of a sample photo (the broken one of none): the label classify gives that sample,
    # asked before the kill (a local run after it once read a line on its stdout that was not JSON)
    local = {Path(line["input"]).name: line.get("label")
             for line in _lines(runner.invoke(app, ["classify", *map(str, PHOTOS), "--json", "--threads", "1"]).stdout)}
    classifier = Classifier("photo", threads=1)
    rows = on_ray.as_outcomes(on_ray.rows(classifier, [str(folder)], on_ray.Options(classifier.path.name), 2))
    got = [next(rows)]
    pids = _actor_pids()
    assert pids, "Ray runs the actors in processes of their own"
    os.kill(pids[0], signal.SIGKILL)
    got += list(rows)
    inputs = [line.to_json()["input"] for line in got]
    assert inputs == sorted(str(p) for p in folder.iterdir())  # each photo once, in order
    assert [line.to_json().get("label") for line in got] == [local.get(Path(i).name[3:]) for i in inputs]
    assert "not an image" in got[-1].to_json()["error"]



@pytest.mark.slow
def test_classify_without_ray_imports_neither_ray_nor_pyarrow():
    code = ("import sys\nfrom fmnist.cli import main\n"
            f"sys.argv = ['fmnist', 'classify', {str(PHOTOS[0])!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print([m for m in ('ray', 'pyarrow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip().splitlines()[-1] == "[]"
