from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from once import made_once

# Tests never read a developer's own settings, nor fill their photo cache.
for var in ("FMNIST_DATA", "FMNIST_BASE_URL", "FMNIST_PHOTOS_URL"):
    os.environ.pop(var, None)
os.environ["FMNIST_CACHE"] = _cache = tempfile.mkdtemp(prefix="fmnist-test-cache-")
atexit.register(shutil.rmtree, _cache, ignore_errors=True)  # each test process removes the cache it made

# Property tests: 200 examples each in make test ("ci", the default); make check, the inner loop, sets
# HYPOTHESIS_PROFILE=dev and takes a quarter of that.
_CHECKS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("ci", max_examples=200, **_CHECKS)
settings.register_profile("dev", max_examples=50, **_CHECKS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


# the gate export's mechanics tests pass when they want the int8 files written: the MLP's int8 files agree with Keras
# on 99.1 % of the test images here, a hair above the default 99 %, and int8 kernels differ between CPUs
MLP_GATE = ("--min-agree", "0.97")


def _export_mlp(out: Path) -> None:
    cli("train", "--model", "mlp", "--epochs", "2", "--limit", "5000", "--out", str(out))
    cli("export", str(out), "--int8", "--fp16", *MLP_GATE)


@pytest.fixture(scope="session")
def exported_mlp(tmp_path_factory) -> Path:
    """The notebook MLP trained two epochs on 5,000 images (81 % on the test set), exported to all five files by the
    CLI; made once per run (made_once). For the tests of export's mechanics (the fallback, the search, the gate's
    refusals, the manifest): its files are judged on the same 10,000 test images as the CNN's, at a fifth of the
    cost. The claims about a real CNN's files stay on exported_cnn."""
    return made_once(tmp_path_factory, "exported-mlp", _export_mlp)


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


# the fixtures made with made_once (tests/once.py): a worker that needs one while another makes it waits
MADE_ONCE = ("exported_cnn", "exported_mlp", "checkout_wheel", "tier_run", "tiny_run")


def _rank(item: pytest.Item, first: set[str]) -> int:
    """0: the first test to use a made-once fixture; 1: the other slow tests; 2: the slow tests that use a made-once
    fixture already asked for; 3: the rest."""
    shared = set(MADE_ONCE) & set(getattr(item, "fixturenames", ()))
    if shared - first:
        first |= shared
        return 0
    if item.get_closest_marker("slow") is None:
        return 3
    return 2 if shared else 1


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order pytest-xdist deals the tests out in (each rank in its collected order, see _rank): what a
    made-once fixture needs starts first, and the other slow tests keep the other worker busy while it is made;
    the short tests come last and even out both workers' ends."""
    first: set[str] = set()
    ranks = {item.nodeid: _rank(item, first) for item in items}
    items.sort(key=lambda item: ranks[item.nodeid])
