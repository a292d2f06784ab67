"""The fmnist wheel a Pi bundle carries: the version running here, from one of three places.

1. `--wheel PATH`: a wheel you built or downloaded (`python -m build`); it must be this version of fmnist.
2. A source checkout (`pip install -e .`): `pip wheel` builds it from a copy of the checkout's sources (pip fetches
   setuptools for that: offline, a failed build asks for `--wheel`).
3. An installed package (`pip install fmnist-*.whl`): the installed files, as listed in the distribution's
   RECORD, are packed back into a wheel (PEP 427: the same files, the same WHEEL and METADATA, a new RECORD).
   No source, no network and no build tools are needed.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from fmnist import __version__
from fmnist.core.errors import FmnistError, UsageError, printable
from fmnist.core.signals import whole

PACKAGE = Path(__file__).resolve().parents[1]  # the fmnist package folder
INSTALL_ONLY = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}  # written by the installer, not the wheel


def wheel_name(tag: str = "py3-none-any") -> str:
    return f"fmnist-{__version__}-{tag}.whl"


def checkout() -> Path | None:
    """The source checkout this fmnist runs from, if any (an editable install)."""
    root = PACKAGE.parent
    pyproject = root / "pyproject.toml"
    return root if pyproject.is_file() and 'name = "fmnist"' in pyproject.read_text() else None


def given_wheel(path: Path, dest: Path) -> Path:
    """--wheel: checked to be this fmnist's version, then copied."""
    name = Path(path).name
    if not (name.startswith("fmnist-") and name.endswith(".whl") and zipfile.is_zipfile(path)):
        raise UsageError(f"--wheel {path}: not an fmnist wheel (fmnist-VERSION-…whl)")
    if name.split("-")[1] != __version__:
        raise UsageError(f"--wheel {path} is fmnist {name.split('-')[1]}, but this is fmnist {__version__}; give "
                         f"the wheel of {__version__} (python -m build), or leave --wheel out")
    return Path(shutil.copy(path, dest / name))


SOURCE = ("pyproject.toml", "README.md", "fmnist")  # what the wheel is built from


def from_checkout(root: Path, dest: Path) -> Path:
    """`pip wheel` on a copy of the checkout's package sources, so the build writes nothing into the checkout
    (setuptools leaves build/ and *.egg-info beside the sources) and two builds never meet."""
    with tempfile.TemporaryDirectory(prefix="fmnist-wheel-") as tmp:
        for name in SOURCE:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, Path(tmp) / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy(source, Path(tmp) / name)
        code, said = _pip([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dest), tmp])
    if code:
        raise FmnistError(_build_failed(said))
    return next(dest.glob(f"fmnist-{__version__}-*.whl"))


STOP_WAIT = 10  # seconds pip has, after a stop, to remove its own temporary folders before it is killed
NO_BUILD_DEPS = ("build dependencies", "No matching distribution", "Could not find a version")  # pip's words


def _pip(command: list[str]) -> tuple[int, str]:
    """pip's exit code and stderr. It runs in a process group of its own: a stop here (Ctrl-C, or SIGTERM under
    fmnist.core.signals.stop_as_interrupt) is handed on to the group as Ctrl-C, so that pip and its build backend
    end and clean up, before the caller removes the folder they build in."""
    pip: subprocess.Popen[str] | None = None
    try:
        with whole():  # started and named together: a stop cannot leave a pip running that nothing stops
            pip = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        _, said = pip.communicate()
    except BaseException:
        if pip is not None:
            _stop(pip)
        raise
    return pip.returncode, said


def _stop(pip: subprocess.Popen[str]) -> None:
    """Ctrl-C to pip's process group, then SIGKILL if it has not ended within STOP_WAIT seconds."""
    if os.name != "posix":  # no process groups to signal
        pip.kill()
        pip.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pip.pid, signal.SIGINT)
    try:
        pip.wait(STOP_WAIT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pip.pid, signal.SIGKILL)
        pip.wait()


def _build_failed(said: str) -> str:
    """Why the build failed, as one line of text (pip's last), and the way round it: a wheel built elsewhere."""
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    last = printable(lines[-1] if lines else "pip gave no reason", 300)
    offline = "; pip could not get the build dependencies (offline?)" if any(
        words in said for words in NO_BUILD_DEPS) else ""
    return (f"building the fmnist wheel from this checkout failed: {last}{offline}; pass --wheel PATH, a wheel of "
            f"fmnist {__version__} built where it can be (python -m build)")


def _record_line(name: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


def installed_files() -> tuple[Path, list[str]]:
    """(site-packages, the installed files of fmnist's package and dist-info as its RECORD lists them)."""
    try:
        dist = metadata.distribution("fmnist")
    except metadata.PackageNotFoundError as e:
        raise FmnistError("fmnist is not installed as a package here; pass --wheel PATH") from e
    site = PACKAGE.parent
    info = f"fmnist-{__version__}.dist-info"
    record = site / info / "RECORD"
    if dist.version != __version__ or not record.is_file():
        raise FmnistError(f"cannot find fmnist {__version__}'s installed files ({record}); pass --wheel PATH")
    with record.open(newline="") as f:
        names = [row[0] for row in csv.reader(f) if row]
    keep = [n for n in names if (n.startswith("fmnist/") or n.startswith(f"{info}/")) and "__pycache__" not in n
            and n.rsplit("/", 1)[-1] not in INSTALL_ONLY]
    return site, keep


def from_installed(dest: Path) -> Path:
    """Pack the installed fmnist back into its wheel."""
    site, names = installed_files()
    info = f"fmnist-{__version__}.dist-info"
    tag = next((line.split(":", 1)[1].strip() for line in (site / info / "WHEEL").read_text().splitlines()
                if line.startswith("Tag:")), "py3-none-any")
    path = dest / wheel_name(tag)
    rows = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name in sorted(names, key=lambda n: (n.startswith(info), n)):  # the dist-info last, as PEP 427 asks
            data = (site / name).read_bytes()
            wheel.writestr(name, data)
            rows.append(_record_line(name, data))
        table = io.StringIO()
        csv.writer(table, lineterminator="\n").writerows([*rows, [f"{info}/RECORD", "", ""]])
        wheel.writestr(f"{info}/RECORD", table.getvalue())
    return path


def fmnist_wheel(dest: Path, given: Path | None = None) -> Path:
    """This fmnist's wheel in `dest`: --wheel, else built from the checkout, else packed from the install."""
    if given is not None:
        return given_wheel(given, dest)
    root = checkout()
    return from_checkout(root, dest) if root else from_installed(dest)
