from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Tests never read a developer's own settings, nor fill their photo cache.
for var in ("FMNIST_DATA", "FMNIST_BASE_URL", "FMNIST_PHOTOS_URL"):
    os.environ.pop(var, None)
os.environ["FMNIST_CACHE"] = _cache = tempfile.mkdtemp(prefix="fmnist-test-cache-")
atexit.register(shutil.rmtree, _cache, ignore_errors=True)  # each test process removes the cache it made


@pytest.fixture(scope="session")
def exported_cnn(tmp_path_factory):
    """A notebook CNN trained one epoch on the full data (the CLI's default split), then exported to all five files,
    both by the CLI."""
    from typer.testing import CliRunner

    from fmnist.cli import app

    out = tmp_path_factory.mktemp("export") / "cnn"
    got = CliRunner().invoke(app, ["train", "--model", "cnn", "--epochs", "1", "--out", str(out)])
    assert got.exit_code == 0, got.output
    got = CliRunner().invoke(app, ["export", str(out), "--int8", "--fp16"])
    assert got.exit_code == 0, got.output
    return out


@pytest.fixture(scope="session")
def checkout_wheel(tmp_path_factory):
    """This checkout's fmnist wheel, built once per worker exactly as `fmnist bundle` builds it when given no --wheel
    (fmnist.deploy.wheel.from_checkout), for the tests that bundle a model: each bundle then copies it (--wheel)
    instead of building it again. tests/test_pi.py's install test still has `bundle` build its own."""
    from fmnist.deploy.wheel import checkout, from_checkout

    root = checkout()
    assert root is not None, "the tests run from a source checkout"
    return from_checkout(root, tmp_path_factory.mktemp("checkout-wheel"))


@pytest.fixture(scope="session")
def real_data_dir():
    """The folder holding the real dataset. CI installs it; missing data is a failure, not a skip."""
    from fmnist.data import fashion

    return fashion.locate().path
