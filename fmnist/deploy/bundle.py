"""`fmnist bundle`: a folder (and .tar.gz) to copy to a Raspberry Pi: the model, pinned requirements, the
fmnist wheel, install.sh, a self-test and a systemd unit for headless live classification."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

from fmnist.core.errors import FmnistError, ModelError

RUNTIME = ("numpy", "onnxruntime", "opencv-python-headless", "typer", "rich")  # pyproject.toml's dependencies
BROKEN_ON_PI = {"onnxruntime": {"1.21.0"}}  # "Illegal instruction" on the Pi 4's Cortex-A72 (onnxruntime#23957)
SAMPLE = "pants.jpg"

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


def _checkout() -> Path:
    root = Path(__file__).resolve().parents[2]  # fmnist/deploy/bundle.py -> the checkout
    if not (root / "pyproject.toml").is_file():
        raise FmnistError("fmnist bundle builds the fmnist wheel from a source checkout; run it from one "
                          "(git clone, then pip install -e .)")
    return root


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


def bundle(model: Path | None, out: Path, sample: Path | None = None) -> Path:
    """Write the bundle folder `out` and `out`.tar.gz; return the archive's path."""
    from fmnist.runtime.classifier import Classifier, default_model
    from fmnist.runtime.preprocess import read_image

    model = Path(model) if model else default_model()
    if model.suffix != ".onnx":
        raise ModelError(f"{model}: a Pi bundle carries an .onnx model (the runtime is onnxruntime)")
    root = _checkout()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy(model, out / "model.onnx")
    sample = Path(sample) if sample else root / "examples" / "photos" / SAMPLE
    shutil.copy(sample, out / "sample.jpg")
    best = Classifier(out / "model.onnx").classify(read_image(sample)).best
    (out / "expected.json").write_text(json.dumps({"label": best.label, "score": round(best.score, 4)}) + "\n")
    (out / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(root)],
                           capture_output=True, text=True)
    if built.returncode:
        raise FmnistError(f"building the fmnist wheel failed: {built.stderr.strip().splitlines()[-1:]}")
    for name, text in (("install.sh", INSTALL), ("selftest", SELFTEST), ("fmnist-live.service.in", UNIT)):
        (out / name).write_text(text)
        (out / name).chmod(0o755 if name != "fmnist-live.service.in" else 0o644)
    archive = out.with_name(out.name + ".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(out, arcname=out.name)
    return archive
