"""The package a user gets: `python -m build` makes an sdist and a wheel that `twine check` passes; the wheel installs
with its dependencies into a clean venv with no extras and classifies with no TensorFlow; pip builds and installs
fmnist from the sdist, which declares the same dependencies, and it classifies the same way; the installed package
makes a Pi bundle outside any checkout, whose self-test passes."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from fmnist import __version__

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "examples" / "photos"
ARTIFACTS = ROOT / "test-artifacts"
MAX_VENV_MB = 400
MAX_WHEEL_MB = 8
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("builds-the-wheel")]  # builds touch the source tree


def run(*args: object, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, check=check)


def clean_venv(folder: Path, package: Path) -> Path:
    """A new venv holding `package` (a wheel or an sdist) and its base dependencies only; returns its bin/."""
    venv.create(folder, with_pip=True)
    run(folder / "bin" / "python", "-m", "pip", "install", "--quiet", package, cwd=folder)
    return folder / "bin"


def site_packages(bin_folder: Path) -> Path:
    """The site-packages of the venv whose bin/ is `bin_folder`."""
    return bin_folder.parent / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def installed(site: Path) -> list[str]:
    """name==version of every distribution in `site`, lower case, as `pip list --format freeze` gives them."""
    return sorted(f"{d.metadata['Name']}=={d.version}".lower() for d in metadata.distributions(path=[str(site)]))


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=ROOT)
    check = run(sys.executable, "-m", "twine", "check", "--strict", *sorted(out.iterdir()), cwd=ROOT)
    assert check.stdout.count("PASSED") == 2, check.stdout
    (wheel,), (sdist,) = out.glob("*.whl"), out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def wheel_bin(built, tmp_path_factory) -> Path:
    return clean_venv(tmp_path_factory.mktemp("wheel-venv") / "venv", built["wheel"])


def test_the_wheel_and_sdist_carry_this_version_and_the_shipped_model(built):
    assert built["wheel"].name == f"fmnist-{__version__}-py3-none-any.whl"
    assert built["sdist"].name == f"fmnist-{__version__}.tar.gz"
    names = zipfile.ZipFile(built["wheel"]).namelist()
    assert {"fmnist/assets/photo.int8.onnx", "fmnist/assets/edge.int8.onnx", "fmnist/assets/sample.jpg",
            "fmnist/runtime/video/http/live.html", "fmnist/runtime/video/http/classify.html",
            "fmnist/runtime/video/http/guesses.js", "fmnist/runtime/video/http/panel.css"} <= set(names)
    assert built["wheel"].stat().st_size <= MAX_WHEEL_MB * 2**20
    assert not any(n.startswith(("tests/", "scripts/")) for n in names)
    with tarfile.open(built["sdist"]) as sdist:
        members = {m.split("/", 1)[1] for m in sdist.getnames() if "/" in m}
    assert {"fmnist/runtime/video/http/live.html", "fmnist/assets/sample.jpg", "CHANGELOG.md", "README.md"} <= members


def test_the_wheel_alone_classifies_with_no_tensorflow(wheel_bin, tmp_path):
    """numpy, onnxruntime, OpenCV, typer and rich only. It classifies the sample photos as this checkout does,
    runs live headless, and bench skips the .tflite rows it has no runtime for, with a note."""
    names = "\n".join(installed(site_packages(wheel_bin)))
    assert "fmnist==" in names and "onnxruntime==" in names
    assert "tensorflow" not in names and "onnx==" not in names and "matplotlib" not in names
    size = folder_mb(wheel_bin.parent)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "runtime-venv-size.txt").write_text(f"{size:.0f} MB: a venv with only the fmnist wheel\n")
    print(f"runtime venv: {size:.0f} MB")
    assert size <= MAX_VENV_MB
    got = run(wheel_bin / "fmnist", "classify", PHOTOS, "--json", cwd=tmp_path)
    from fmnist.runtime.classifier import Classifier
    from fmnist.runtime.image import read_image

    classifier = Classifier()  # this checkout, full install
    rows = [json.loads(line) for line in got.stdout.splitlines()]
    assert len(rows) == 10
    for row in rows:
        expected = classifier.classify(read_image(Path(row["input"]))).best
        assert row["label"] == expected.label and row["score"] == pytest.approx(expected.score, abs=1e-3)

    from fmnist.data import fashion
    from scripts.product_video import write_video

    write_video(tmp_path / "clip.mp4", fashion.load_split("test").images[:3], hold=5, blank=2)
    live = run(wheel_bin / "fmnist", "live", "--source", tmp_path / "clip.mp4", "--json", cwd=tmp_path)
    assert len(live.stdout.splitlines()) == 17 and "17 frames in" in live.stderr and "headless" in live.stderr
    # a .tflite row needs LiteRT, which the base install lacks: skipped before the file is opened, with a note
    tflite = tmp_path / "model.int8.tflite"
    tflite.write_bytes(b"")
    shipped = site_packages(wheel_bin) / "fmnist" / "assets" / "edge.int8.onnx"
    bench = run(wheel_bin / "fmnist", "bench", "--model", shipped, "--model", tflite, "--threads", "1", "--iterations",
                "20", "--rounds", "1", "--batch-size", "1", "--json", cwd=tmp_path)
    report = json.loads(bench.stdout)
    assert [Path(r["model"]).name for r in report["rows"]] == ["edge.int8.onnx"]
    assert report["skipped"] == [{"model": str(tflite),
                                  "note": "skipped: needs ai_edge_litert (pip install ai-edge-litert)"}]
    assert_serves(wheel_bin, tmp_path)


def assert_serves(bin_folder: Path, cwd: Path) -> None:
    """`fmnist serve` of the installed package: its upload page, and a photo's answer as classify's."""
    import re
    import urllib.request

    server = subprocess.Popen([bin_folder / "fmnist", "serve", "--port", "0"], stderr=subprocess.PIPE, text=True,
                              cwd=cwd)
    try:
        assert server.stderr is not None
        url = next(found.group(1) for line in server.stderr if (found := re.search(r" on (http://\S+/) ", line)))
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b"photo.int8.onnx" in page.read()  # the page ships in the wheel
        sent = urllib.request.Request(f"{url}classify", data=(PHOTOS / "pants.jpg").read_bytes(),
                                      headers={"Content-Type": "image/jpeg"})
        with urllib.request.urlopen(sent, timeout=10) as answer:
            assert json.loads(answer.read())["label"] == "Trouser"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_sdist_installs_and_classifies_the_same_way(built, wheel_bin, tmp_path):
    """pip builds fmnist from the sdist (PEP 517, in its own build env) and installs it, console script and all, into
    a new venv. The sdist declares the wheel's dependencies, so the venv borrows those the wheel's venv installed (a
    .pth naming a folder of links to them, the wheel's own fmnist left out) instead of unpacking them again."""
    venv.create(tmp_path / "venv")  # no pip of its own: this pip installs into it (--python)
    sdist_bin = tmp_path / "venv" / "bin"
    run(sys.executable, "-m", "pip", "--python", sdist_bin / "python", "install", "--quiet", "--no-deps",
        built["sdist"], cwd=tmp_path)
    site = site_packages(sdist_bin)
    assert [n.split("==")[0] for n in installed(site)] == ["fmnist"]
    ours, wheels = (metadata_of(s, "fmnist") for s in (site, site_packages(wheel_bin)))
    assert ours["Version"] == __version__ and ours.get_all("Requires-Dist") == wheels.get_all("Requires-Dist")
    deps = tmp_path / "deps"
    deps.mkdir()
    for entry in site_packages(wheel_bin).iterdir():
        if entry.name != "fmnist" and not entry.name.startswith("fmnist-"):
            (deps / entry.name).symlink_to(entry)
    (site / "wheel-venv-dependencies.pth").write_text(f"{deps}\n")
    got = run(sdist_bin / "fmnist", "classify", PHOTOS / "pants.jpg", "--json", cwd=tmp_path)
    assert json.loads(got.stdout)["label"] == "Trouser"


def metadata_of(site: Path, name: str) -> metadata.PackageMetadata:
    """The METADATA of distribution `name` installed in `site`."""
    (dist,) = (d for d in metadata.distributions(path=[str(site)]) if d.metadata["Name"] == name)
    return dist.metadata


def test_version_names_the_wheel_s_version_the_model_and_the_runtime(wheel_bin, built, tmp_path):
    line = run(wheel_bin / "fmnist", "--version", cwd=tmp_path).stdout
    assert line.startswith(f"fmnist {built['wheel'].name.split('-')[1]} (shipped models photo photo.int8.onnx sha256 ")
    assert ", edge edge.int8.onnx sha256 " in line
    assert "onnxruntime 1." in line and "OpenCV " in line and "not installed" not in line


def test_the_installed_package_makes_a_bundle_whose_selftest_passes(wheel_bin, built, tmp_path):
    """Outside any checkout: the bundle carries the installed fmnist packed back into its wheel, the same files
    as the wheel it was installed from; the self-test passes."""
    out = tmp_path / "dist" / "fmnist-pi"
    made = run(wheel_bin / "fmnist", "bundle", "--out", out, cwd=tmp_path)
    assert made.stdout.startswith(f"wrote {out}/"), made.stderr
    (packed,) = out.glob("fmnist-*.whl")
    assert packed.name == f"fmnist-{__version__}-py3-none-any.whl"
    # install.sh would make a venv; the self-test is pointed at the installed fmnist instead
    selftest = subprocess.run([out / "selftest"], capture_output=True, text=True, cwd=tmp_path,
                              env={"PATH": "/usr/bin:/bin", "FMNIST": str(wheel_bin / "fmnist")})
    assert selftest.returncode == 0 and ": PASS" in selftest.stdout, selftest.stdout + selftest.stderr
    with zipfile.ZipFile(packed) as repacked, zipfile.ZipFile(built["wheel"]) as original:
        record = f"fmnist-{__version__}.dist-info/RECORD"
        assert sorted(repacked.namelist()) == sorted(original.namelist())
        assert all(repacked.read(n) == original.read(n) for n in original.namelist() if n != record)
        assert repacked.testzip() is None and repacked.namelist()[-1] == record
