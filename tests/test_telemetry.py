"""fmnist keeps onnxruntime's telemetry off: onnxruntime 1.29+ on Linux writes a device id under ~/.cache/Microsoft
and uploads events to Microsoft unless ORT_DISABLE_TELEMETRY is set before its first session. A device that
classifies photos offline must not try to phone home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fmnist

ROOT = Path(__file__).resolve().parent.parent
MODEL = Path(fmnist.__file__).parent / "assets" / "edge.int8.onnx"
PLAIN = f"import onnxruntime as ort; ort.InferenceSession({str(MODEL)!r})"
FMNIST = ("from fmnist.runtime.classifier import Classifier; from fmnist.runtime.image import read_image; "
          f"print(Classifier('edge').classify(read_image({str(ROOT / 'examples/photos/pants.jpg')!r})).best.label)")


# onnxruntime keeps its telemetry off by itself where one of these says it runs under CI or its own tests (the names
# are in its library's strings); the runs here are a user's, so none is passed on, or the control would prove nothing
CI_MARKERS = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "TRAVIS", "CIRCLECI",
              "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
              "ORT_RUNNING_UNIT_TESTS")


def _run(code: str, home: Path, **env: str) -> tuple[str, list[Path]]:
    """`code` in a fresh interpreter whose home is `home`, as a user's: its stdout and the files it left there."""
    dropped = ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME", *CI_MARKERS)
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                          env={**clean, "HOME": str(home), **env})
    return done.stdout.strip(), sorted(p for p in home.rglob("*") if p.is_file())


@pytest.fixture
def telemetry_on_here(tmp_path: Path) -> None:
    """The control: a plain onnxruntime session writes its device id here. Where onnxruntime keeps its telemetry off
    by itself (a CI or container it recognises beyond the variables above), there is nothing to show: skip."""
    plain = tmp_path / "plain"
    plain.mkdir()
    _, left = _run(PLAIN, plain)
    if not any(p.name == "deviceid" for p in left):
        pytest.skip("onnxruntime's telemetry is off on this machine without fmnist: a plain session wrote no device id")


@pytest.mark.slow
def test_a_session_opened_through_fmnist_leaves_no_device_id_while_a_plain_one_does(tmp_path, telemetry_on_here):
    home = tmp_path / "fmnist"
    home.mkdir()
    label, left = _run(FMNIST, home)
    assert label == "Trouser" and left == []


@pytest.mark.slow
def test_a_user_who_sets_ort_disable_telemetry_keeps_their_choice(tmp_path, telemetry_on_here):
    home = tmp_path / "user"
    home.mkdir()
    _, left = _run("import fmnist, os; import onnxruntime as ort; " + PLAIN.split("; ", 1)[1], home,
                   ORT_DISABLE_TELEMETRY="0")
    assert any(p.name == "deviceid" for p in left), left
