"""`fmnist bundle`: a folder (and .tar.gz) to copy to a Raspberry Pi: the model, pinned requirements, the
fmnist wheel, install.sh, a self-test and a systemd unit for headless live classification."""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

from fmnist import __version__
from fmnist.core.atomic import atomic_path, swap_folder
from fmnist.core.errors import FmnistError, ModelError, UsageError
from fmnist.deploy.wheel import fmnist_wheel

RUNTIME = ("numpy", "onnxruntime", "opencv-python-headless", "typer", "rich")  # pyproject.toml's dependencies
BROKEN_ON_PI = {"onnxruntime": {"1.21.0"}}  # "Illegal instruction" on the Pi 4's Cortex-A72 (onnxruntime#23957)
SAMPLE = "sample.jpg"  # in fmnist/assets: a pair of trousers (CC0, examples/photos/pants.jpg)

INSTALL = """#!/usr/bin/env bash
# Install the fmnist runtime into a venv next to this file, then run the self-test.
#   ./install.sh                 (FMNIST_VENV=/path/to/venv to choose the venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${FMNIST_VENV:-$here/venv}
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" "$here"/fmnist-*.whl
sed -e "s#@VENV@#$venv#g" -e "s#@DIR@#$here#g" -e "s#@USER@#$(id -un)#g" \\
  "$here/fmnist-live.service.in" > "$here/fmnist-live.service"
FMNIST="$venv/bin/fmnist" "$here/selftest"
echo "installed $venv/bin/fmnist"
echo "to classify camera 0 at boot, with a preview on http://<this-pi>:8080/ :"
echo "  sudo cp $here/fmnist-live.service /etc/systemd/system/ && sudo systemctl enable --now fmnist-live"
"""

SELFTEST = """#!/usr/bin/env bash
# Classify the shipped sample with the bundled model; the label must be the one recorded when bundling.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fmnist=${FMNIST:-$here/venv/bin/fmnist}
got=$("$fmnist" classify "$here/sample.jpg" --model "$here/model.onnx" --json)
python3 - "$got" "$here/expected.json" <<'PY'
import json, sys
got, expected = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
ok = got["label"] == expected["label"]
print(f"selftest: sample.jpg -> {got['label']} {got['score']:.2f} (expected {expected['label']}): "
      f"{'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
"""

UNIT = """[Unit]
Description=fmnist live: classify camera 0, MJPEG preview and /status on port 8080
After=network-online.target
Wants=network-online.target

[Service]
# --serve 0.0.0.0 serves on ALL network interfaces, on purpose: the preview is for other machines on your
# network. Anyone who can reach port 8080 sees the camera. Use --serve 127.0.0.1:8080 to keep it on the Pi.
ExecStart=@VENV@/bin/fmnist live --source 0 --no-display --serve 0.0.0.0:8080 --model @DIR@/model.onnx
Restart=on-failure
RestartSec=5
User=@USER@
SupplementaryGroups=video

[Install]
WantedBy=multi-user.target
"""


def requirements() -> list[str]:
    """The runtime packages pinned to the versions installed (and tested) here."""
    pins = []
    for name in RUNTIME:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError as e:
            raise FmnistError(f"{name} is not installed; pip install {name}") from e
        if version in BROKEN_ON_PI.get(name, set()):
            raise FmnistError(f"{name} {version} is known to crash on a Raspberry Pi 4; install another version")
        pins.append(f"{name}=={version}")
    return pins


MARKER = ".fmnist-bundle"  # in every bundle folder: what --out may replace


def _check_target(out: Path, archive: Path) -> None:
    """--out may be new, or an earlier bundle; anything else is refused before anything is touched."""
    if out.exists() and not (out / MARKER).is_file():
        raise UsageError(f"--out {out} exists and is not a bundle made by fmnist bundle (no {MARKER} in it); "
                         "nothing was touched. Choose a new folder, or move it away")
    if archive.exists() and not out.exists():
        raise UsageError(f"{archive} exists and its bundle folder {out} does not; nothing was touched. Choose "
                         "another --out, or move the archive away")


def _fill(folder: Path, model: Path, sample: Path, wheel: Path | None) -> None:
    """Everything the Pi needs, in `folder`."""
    from fmnist.runtime.classifier import Classifier
    from fmnist.runtime.preprocess import read_image

    shutil.copy(model, folder / "model.onnx")
    shutil.copy(sample, folder / "sample.jpg")
    best = Classifier(folder / "model.onnx").classify(read_image(sample)).best
    (folder / "expected.json").write_text(json.dumps({"label": best.label, "score": round(best.score, 4)}) + "\n")
    (folder / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    fmnist_wheel(folder, wheel)
    for name, text in (("install.sh", INSTALL), ("selftest", SELFTEST), ("fmnist-live.service.in", UNIT)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o755 if name != "fmnist-live.service.in" else 0o644)
    (folder / MARKER).write_text(f"made by fmnist {__version__} bundle; fmnist bundle --out may replace this folder\n")


def bundle(model: Path | None, out: Path, sample: Path | None = None, wheel: Path | None = None) -> Path:
    """Write the bundle folder `out` and `out`.tar.gz; return the archive's path. The bundle is built in a
    temporary folder beside `out` and swapped in only when complete: a failed or interrupted build leaves an
    earlier bundle as it was, and a folder that is not a bundle is never touched."""
    from fmnist.runtime.classifier import default_model

    model = Path(model) if model else default_model()
    if model.suffix != ".onnx":
        raise ModelError(f"{model}: a Pi bundle carries an .onnx model (the runtime is onnxruntime)")
    out, archive = Path(out), Path(out).with_name(Path(out).name + ".tar.gz")
    _check_target(out, archive)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        _fill(staging, model, Path(sample) if sample else default_model().with_name(SAMPLE), wheel)
        with atomic_path(archive) as tmp, tarfile.open(tmp, "w:gz") as tar:
            tar.add(staging, arcname=out.name)
        swap_folder(staging, out, staging.with_name(staging.name + ".old"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return archive
