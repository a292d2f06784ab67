"""The Raspberry Pi path: the bundle installs and self-tests in a scratch folder (x86, same steps), and
scripts/pi-smoke runs the runtime on emulated aarch64 with the labels of this machine."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmnist.cli import app

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bundle_installs_and_passes_its_selftest(tmp_path):
    got = CliRunner().invoke(app, ["bundle", "--out", str(tmp_path / "build" / "fmnist-pi")])
    assert got.exit_code == 0, got.output
    archive = tmp_path / "build" / "fmnist-pi.tar.gz"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert {"fmnist-pi/model.onnx", "fmnist-pi/requirements.txt", "fmnist-pi/install.sh", "fmnist-pi/selftest",
                "fmnist-pi/fmnist-live.service.in", "fmnist-pi/sample.jpg", "fmnist-pi/expected.json"} <= names
        assert any(n.startswith("fmnist-pi/fmnist-") and n.endswith(".whl") for n in names)
        tar.extractall(tmp_path / "pi", filter="data")  # a scratch folder, as on the Pi
    pins = (tmp_path / "pi" / "fmnist-pi" / "requirements.txt").read_text().split()
    assert [p.split("==")[0] for p in pins] == ["numpy", "onnxruntime", "opencv-python-headless", "typer", "rich"]
    install = subprocess.run([tmp_path / "pi" / "fmnist-pi" / "install.sh"], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    assert "selftest: sample.jpg -> " in install.stdout and ": PASS" in install.stdout
    unit = (tmp_path / "pi" / "fmnist-pi" / "fmnist-live.service").read_text()
    assert f"ExecStart={tmp_path / 'pi' / 'fmnist-pi' / 'venv'}/bin/fmnist live" in unit
    assert "--serve 0.0.0.0:8080" in unit and "ALL network interfaces, on purpose" in unit


@pytest.mark.xdist_group("builds-the-wheel")  # pip builds in the source tree: one at a time
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="pi-smoke fetches arm64 packages with apt-get: needs root")
def test_pi_smoke_on_emulated_aarch64():
    done = subprocess.run([ROOT / "scripts" / "pi-smoke"], capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aarch64 run: aarch64" in done.stdout
    assert "classify: 10/10 labels equal to x86" in done.stdout and "live: " in done.stdout
    assert "FAIL" not in done.stdout


def test_the_bundle_pins_exactly_the_base_install():
    """The Pi gets the packages `pip install fmnist` declares, no more and no fewer."""
    import re

    import tomllib

    from fmnist.deploy.bundle import RUNTIME

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(re.split(r"[<>=!~ ]", d)[0] for d in declared) == sorted(RUNTIME)


def test_bundle_refuses_a_folder_it_did_not_make_and_touches_nothing(tmp_path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("my own file")
    got = CliRunner().invoke(app, ["bundle", "--out", str(mine)])
    assert got.exit_code == 2 and got.stderr.count("\n") == 1
    assert "is not a bundle made by fmnist bundle" in got.stderr and "nothing was touched" in got.stderr
    assert [p.name for p in mine.iterdir()] == ["todo.txt"] and (mine / "todo.txt").read_text() == "my own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]  # no archive, no temporary folder
    (tmp_path / "pi.tar.gz").write_text("someone else's archive")
    got = CliRunner().invoke(app, ["bundle", "--out", str(tmp_path / "pi")])
    assert got.exit_code == 2 and (tmp_path / "pi.tar.gz").read_text() == "someone else's archive"


@pytest.mark.slow
def test_a_failed_bundle_build_leaves_the_earlier_bundle_intact(tmp_path):
    out = tmp_path / "fmnist-pi"
    assert CliRunner().invoke(app, ["bundle", "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    archive = (tmp_path / "fmnist-pi.tar.gz").read_bytes()
    (tmp_path / "not-a-photo.jpg").write_text("text")  # the build fails midway, when it classifies the sample
    got = CliRunner().invoke(app, ["bundle", "--out", str(out), "--sample", str(tmp_path / "not-a-photo.jpg")])
    assert got.exit_code == 1 and "not an image" in got.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert (tmp_path / "fmnist-pi.tar.gz").read_bytes() == archive
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fmnist-pi", "fmnist-pi.tar.gz", "not-a-photo.jpg"]
    replaced = CliRunner().invoke(app, ["bundle", "--out", str(out)])  # an earlier bundle is replaced
    assert replaced.exit_code == 0 and (out / ".fmnist-bundle").is_file()


def test_a_wheel_of_another_version_is_refused(tmp_path):
    import zipfile

    other = tmp_path / "fmnist-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(other, "w") as wheel:
        wheel.writestr("fmnist/__init__.py", "__version__ = '0.0.1'\n")
    got = CliRunner().invoke(app, ["bundle", "--out", str(tmp_path / "pi"), "--wheel", str(other)])
    assert got.exit_code == 2 and "is fmnist 0.0.1, but this is fmnist" in got.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fmnist-0.0.1-py3-none-any.whl"]  # nothing left behind
