"""`fmnist data fetch` against a real HTTP server on 127.0.0.1 serving IDX files this test writes."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest
from idx_files import synthetic_set
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import DataError
from fmnist.core.owned import MANIFEST
from fmnist.data import fashion
from fmnist.data.fetch import OFFICIAL_MD5, fetch


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, {name: md5}, folder) for a local server holding four valid synthetic IDX files."""
    root = tmp_path_factory.mktemp("mirror")
    files = synthetic_set(root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    md5 = {name: hashlib.md5(blob).hexdigest() for name, blob in files.items()}
    yield f"http://127.0.0.1:{server.server_port}/", md5, root
    server.shutdown()


def test_fetch_downloads_checks_and_places_the_files(served, tmp_path):
    url, md5, _ = served
    seen: dict[str, int] = {}
    dest = fetch(tmp_path / "dl", url, md5, progress=lambda name, done, total: seen.__setitem__(name, done))
    assert sorted(p.name for p in dest.iterdir()) == sorted([*md5, MANIFEST])  # no temp files left behind
    assert seen == {name: (dest / name).stat().st_size for name in md5}  # progress reached every file's end
    train = fashion.load_split("train", dest)
    assert fashion.class_counts(train.labels).tolist() == [6000] * 10


def test_checksum_mismatch_leaves_nothing(served, tmp_path):
    url, _, _ = served
    with pytest.raises(DataError, match=r"has MD5 [0-9a-f]{32}, expected 8d4fb7e6c68d591d4c3dfef9ec88bf0d"):
        fetch(tmp_path / "dl", url, OFFICIAL_MD5)  # the synthetic files are not the official ones
    assert list((tmp_path / "dl").iterdir()) == []


def test_corrupt_file_on_the_server_is_rejected(tmp_path):
    bad = tmp_path / "badmirror"
    synthetic_set(bad)
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"\0" * 100)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(bad)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with pytest.raises(DataError, match=r"^http://127.0.0.1:\d+/t10k-images-idx3-ubyte.gz is truncated or not a "
                                             r"valid gzip file .*; try again, or use another mirror$"):
            fetch(tmp_path / "dl", f"http://127.0.0.1:{server.server_port}", md5=None)
    finally:
        server.shutdown()
    assert list((tmp_path / "dl").iterdir()) == []  # the two good train files were not placed either: no mix


def test_missing_file_on_the_server_names_the_url(served, tmp_path):
    url, md5, _ = served
    with pytest.raises(DataError, match=r"could not download http://127\.0\.0\.1:\d+/nothing-here/train-images"):
        fetch(tmp_path / "dl", url + "nothing-here/", md5)


def test_cli_fetch_then_info(served, tmp_path):
    url, _, _ = served
    runner = CliRunner()
    got = runner.invoke(app, ["data", "fetch", "--dest", str(tmp_path / "d"), "--base-url", url, "--skip-md5"])
    assert got.exit_code == 0, got.output
    assert "saved and checked" in got.stdout
    info = runner.invoke(app, ["data", "info", "--data-dir", str(tmp_path / "d"), "--json"])
    assert info.exit_code == 0, info.output
    assert '"test": [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]' in info.stdout


def test_cli_fetch_unreachable_host_is_one_error_line(tmp_path):
    got = CliRunner().invoke(app, ["data", "fetch", "--dest", str(tmp_path), "--base-url", "http://127.0.0.1:9/",
                                   "--timeout", "2"])
    assert got.exit_code == 3
    assert got.stderr.startswith("error: could not download http://127.0.0.1:9/")
    assert "Traceback" not in got.output


def test_cli_fetch_photos_unreachable_names_the_photos_mirror_option(tmp_path):
    got = CliRunner().invoke(app, ["data", "fetch", "photos", "--dest", str(tmp_path / "p"), "--photos-url",
                                   "http://127.0.0.1:9/photos.zip", "--timeout", "2"])
    assert got.exit_code == 3 and got.stderr.startswith("error: could not download http://127.0.0.1:9/photos.zip")
    assert "--photos-url" in got.stderr and "--base-url" not in got.stderr


@pytest.mark.parametrize(("args", "refused"), [(["photos", "--skip-md5"], "--skip-md5"),
                                               (["photos", "--base-url", "http://x/"], "--base-url"),
                                               (["--photos-url", "http://x/p.zip"], "--photos-url")])
def test_an_option_of_the_other_dataset_is_refused_not_ignored(tmp_path, args, refused):
    """--base-url and --skip-md5 are the Fashion-MNIST files'; --photos-url the photos': given to the other dataset,
    they used to be dropped without a word."""
    got = CliRunner().invoke(app, ["data", "fetch", *args, "--dest", str(tmp_path / "d")])
    assert got.exit_code == 2 and got.stderr.startswith(f"error: {refused} applies only to "), got.output
    assert not (tmp_path / "d").exists()


def test_the_mirror_variable_does_not_count_as_a_typed_option(tmp_path, monkeypatch):
    """FMNIST_BASE_URL set in the environment is for the Fashion-MNIST files: fetching the photos ignores it."""
    monkeypatch.setenv("FMNIST_BASE_URL", "http://127.0.0.1:9/")
    got = CliRunner().invoke(app, ["data", "fetch", "photos", "--dest", str(tmp_path / "p"), "--photos-url",
                                   "http://127.0.0.1:9/p.zip", "--timeout", "1"])
    assert got.exit_code == 3 and "applies only" not in got.stderr
