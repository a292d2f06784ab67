from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from once import made_once

# Tests never read a developer's own settings, nor fill their photo cache.
for var in ("FMNIST_DATA", "FMNIST_BASE_URL", "FMNIST_PHOTOS_URL"):
    os.environ.pop(var, None)
os.environ["FMNIST_CACHE"] = _cache = tempfile.mkdtemp(prefix="fmnist-test-cache-")
atexit.register(shutil.rmtree, _cache, ignore_errors=True)  # each test process removes the cache it made


def cli(*args: str) -> None:
    """One fmnist command, in-process; it must succeed."""
    from typer.testing import CliRunner

    from fmnist.cli import app

    got = CliRunner().invoke(app, list(args))
    assert got.exit_code == 0, got.output


def _export_cnn(out: Path) -> None:
    cli("train", "--model", "cnn", "--epochs", "1", "--out", str(out))
    cli("export", str(out), "--int8", "--fp16")


@pytest.fixture(scope="session")
def exported_cnn(tmp_path_factory) -> Path:
    """A notebook CNN trained one epoch on the full data (the CLI's default split), then exported to all five files,
    both by the CLI; made once per run (made_once)."""
    return made_once(tmp_path_factory, "exported-cnn", _export_cnn)


def _checkout_wheel(dest: Path) -> None:
    from fmnist.deploy.wheel import checkout, from_checkout

    root = checkout()
    assert root is not None, "the tests run from a source checkout"
    from_checkout(root, dest)


@pytest.fixture(scope="session")
def checkout_wheel(tmp_path_factory) -> Path:
    """This checkout's fmnist wheel, built once per run (made_once) exactly as `fmnist bundle` builds it when given
    no --wheel (fmnist.deploy.wheel.from_checkout), for the tests that bundle a model: each bundle then copies it
    (--wheel) instead of building it again. tests/test_pi.py's install test still has `bundle` build its own."""
    (wheel,) = made_once(tmp_path_factory, "checkout-wheel", _checkout_wheel).glob("fmnist-*.whl")
    return wheel


@pytest.fixture(scope="session")
def real_data_dir():
    """The folder holding the real dataset. CI installs it; missing data is a failure, not a skip."""
    from fmnist.data import fashion

    return fashion.locate().path
