from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from exported import cli, export_cnn, hand_to_benchmarks
from hypothesis import HealthCheck, settings
from once import made_once
from typer.testing import Result

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


@pytest.fixture(autouse=True)
def _not_verbose(monkeypatch):
    """`fmnist --verbose` run in this process (CliRunner) sets FMNIST_VERBOSE for the process: each test starts
    without it and leaves none, so no test's output depends on which ran before it on its worker."""
    monkeypatch.setenv("FMNIST_VERBOSE", "")  # recorded, so that it is undone: unset again after the test
    monkeypatch.delenv("FMNIST_VERBOSE")


def _export_cnn(out: Path) -> None:
    export_cnn(out)
    hand_to_benchmarks(out)


@pytest.fixture(scope="session")
def exported_cnn(tmp_path_factory) -> Path:
    """tests/exported.py's export_cnn: the notebook CNN trained one epoch on the full data, exported to all five
    files; made once per run (made_once), and a copy handed to make test's pass over benchmarks/."""
    return made_once(tmp_path_factory, "exported-cnn", _export_cnn)


# test_bench's command: the shipped models and the CNN's five files, one thread, batch 1 and 16, two rounds
BENCH_CNN = ("--threads", "1", "--batch-size", "1", "--batch-size", "16", "--iterations", "50", "--rounds", "2",
             "--json")


def _bench_cnn(cnn: Path, out: Path) -> None:
    (out / "bench.json").write_text(cli("bench", "--run", str(cnn), *BENCH_CNN).stdout)


@pytest.fixture(scope="session")
def bench_of_exported_cnn(tmp_path_factory, exported_cnn) -> Path:
    """`fmnist bench --run EXPORTED_CNN` with BENCH_CNN's settings: its JSON (bench.json), made once per run
    (made_once). Most of its cost is the photo model's accuracy on the stratified 2,000 test images written as
    photos; the tests that read a real bench of the shipped models share it."""
    return made_once(tmp_path_factory, "bench-of-exported-cnn", partial(_bench_cnn, exported_cnn)) / "bench.json"


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


# a tiny edge run: two epochs on 600 images, the mechanics of train (its files, its split, its seed)
TINY = ("--model", "edge", "--epochs", "2", "--limit", "600")


def train_tiny(out: Path, seed: int = 0) -> Result:
    """`fmnist train --out OUT --seed SEED` with TINY's settings, in-process; it must succeed."""
    return cli("train", "--out", str(out), "--seed", str(seed), *TINY)


def _tiny_run(root: Path) -> None:
    (root / "stdout.txt").write_text(train_tiny(root / "tiny-edge").stdout)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, dict, str]:
    """The tiny edge run (seed 0), made once per run (made_once): its folder, metrics and what train printed."""
    root = made_once(tmp_path_factory, "tiny-edge", _tiny_run)
    out = root / "tiny-edge"
    return out, json.loads((out / "metrics.json").read_text()), (root / "stdout.txt").read_text()


@dataclass(frozen=True)
class Reruns:
    """The tiny run trained again into a copy of its own folder, twice: its seed, then seed 1."""

    folder: Path  # the copy, as the second run (seed 1) left it
    same_seed: Path  # the history.json and metrics.json the first (seed 0, no manifest) wrote there
    said: str  # what the second run printed on stderr


def _tiny_reruns(tiny: Path, root: Path) -> None:
    from fmnist.core.owned import MANIFEST

    folder, same_seed = root / "run", root / "same-seed"
    shutil.copytree(tiny, folder)  # copy2: the files keep their times, as a run left them
    (folder / MANIFEST).unlink()  # as fmnist 0.2.0 left a run
    train_tiny(folder)
    same_seed.mkdir()
    for name in ("history.json", "metrics.json"):
        shutil.copy(folder / name, same_seed / name)
    from fmnist.core.owned import OwnedFolder

    owned = OwnedFolder(folder, "--out")  # as an export of the first model leaves them: recorded in the manifest
    owned.write_bytes("model.onnx", b"an export of the first model")
    owned.write_bytes("parity.md", b"its parity report")
    (folder / "parity.md").write_text("parity, with my notes")  # changed since: the user's now
    (folder / "notes.txt").write_text("mine")  # never fmnist's
    (root / "stderr.txt").write_text(train_tiny(folder, seed=1).stderr)  # over the first's files and its exports


@pytest.fixture(scope="session")
def tiny_reruns(tmp_path_factory, tiny_run) -> Reruns:
    """The tiny run re-trained into a copy of its folder with no manifest (its seed), then again with the manifest
    that wrote (seed 1); made once per run (made_once). Two trainings that both prove something: that a run
    re-trained into its own folder replaces its files (tests/test_outputs_never_replace.py) and that a seed repeats
    a run and another seed does not (tests/test_train.py). Ordered through tiny_run (MADE_ONCE)."""
    root = made_once(tmp_path_factory, "tiny-edge-reruns", partial(_tiny_reruns, tiny_run[0]))
    return Reruns(root / "run", root / "same-seed", (root / "stderr.txt").read_text())


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
