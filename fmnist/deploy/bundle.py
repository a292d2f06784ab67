"""`fmnist bundle`: a folder (and .tar.gz) to copy to a Raspberry Pi: the model, pinned requirements, the
fmnist wheel, install.sh, a self-test and a systemd unit: headless live classification, or the classify API."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from fmnist import __version__
from fmnist.core.atomic import atomic_path, swap_folder, temp_folder
from fmnist.core.atomic import write_bytes as atomic_write_bytes
from fmnist.core.bounded import opened_regular, sha256_file, sha256_regular
from fmnist.core.errors import FmnistError, ModelError, UsageError, escaped
from fmnist.core.formats import recognise, runtime_formats
from fmnist.core.signals import whole
from fmnist.core.tree_record import record_tree, refusal
from fmnist.deploy.wheel import fmnist_wheel

# pyproject.toml's dependencies
RUNTIME = ("numpy", "onnxruntime", "protobuf", "opencv-python-headless", "typer", "rich", "starlette", "uvicorn",
           "python-multipart")
BROKEN_ON_PI = {"onnxruntime": {"1.21.0"}}  # "Illegal instruction" on the Pi 4's Cortex-A72 (onnxruntime#23957)
SAMPLE = "sample.jpg"  # in fmnist/assets: a pair of trousers (CC0, examples/photos/pants.jpg)

INSTALL = r"""#!/usr/bin/env bash
# Install the fmnist runtime into a venv next to this file, then run the self-test.
#   ./install.sh                 (FMNIST_VENV=/path/to/venv to choose the venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${FMNIST_VENV:-$here/venv}
# the systemd unit with this folder's paths, first: filled in by python (not sed), so a path arrives as it is
python3 - "$here/@UNIT@.service.in" "$here/@UNIT@.service" "$venv" "$here" "$(id -un)" <<'PY'
import sys
template, unit, venv, here, user = sys.argv[1:]
if any(c in "\"'\\" or not c.isprintable() for c in venv + here):
    sys.exit(f"install.sh: systemd cannot run a program from a path holding a quote, a backslash or a control "
             f"character ({venv}); move this folder (or set FMNIST_VENV) and run install.sh again")
program = venv.replace("%", "%%")  # systemd: the program's path expands % specifiers, not $ variables
argument = here.replace("%", "%%").replace("$", "$$")  # an argument expands both
text = open(template, encoding="utf-8").read()
text = text.replace("@VENV@", program).replace("@DIR@", argument).replace("@USER@", user)
open(unit, "w", encoding="utf-8", errors="surrogateescape").write(text)
PY
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" "$here"/fmnist-*.whl
FMNIST="$venv/bin/fmnist" "$here/selftest"
echo "installed $venv/bin/fmnist"
echo "@AT_BOOT@"
echo "  sudo cp '$here/@UNIT@.service' /etc/systemd/system/ && sudo systemctl enable --now @UNIT@"
"""

SELFTEST = """#!/usr/bin/env bash
# Classify the shipped sample with the bundled model; its answer must be the one recorded when bundling: the same
# label, or the recorded label within "tie" of the top score (a near tie another CPU's int8 rounding may swap).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fmnist=${FMNIST:-$here/venv/bin/fmnist}
got=$("$fmnist" classify "$here/sample.jpg" --model "$here/model.onnx" --json --top 10)
python3 - "$got" "$here/expected.json" <<'PY'
import json, sys
got, expected = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
scores = {guess["label"]: guess["score"] for guess in got["top"]}
tie = got["label"] != expected["label"] and got["score"] - scores.get(expected["label"], -1.0) <= expected.get("tie", 0)
ok = got["label"] == expected["label"] or tie
print(f"selftest: sample.jpg -> {got['label']} {got['score']:.2f} (expected {expected['label']}"
      f"{', a near tie' if tie else ''}): {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
"""

UNIT = """[Unit]
Description=@DESCRIPTION@
After=network-online.target
Wants=network-online.target

[Service]
@COMMENT@
# The server itself serves 16 requests at once (more get 503) and drops a connection idle or stalled for 10 s.
ExecStart="@VENV@/bin/fmnist" @COMMAND@ --model "@DIR@/model.onnx"
Restart=on-failure
RestartSec=5
# bounds for the whole service, whatever a client does: file descriptors, memory (160 MB with the shipped model)
LimitNOFILE=256
MemoryMax=1G
NoNewPrivileges=yes
User=@USER@
SupplementaryGroups=video

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class Service:
    """What the bundle's systemd unit runs: `fmnist live` on camera 0 with its preview, or the classify API."""

    unit: str  # the unit's name: NAME.service
    description: str
    comment: str  # why it listens on every network interface, and how to keep it on the Pi
    command: str  # fmnist's arguments, --model aside
    at_boot: str  # what install.sh says enabling it does


SERVICES = {
    "live": Service("fmnist-live", "fmnist live: classify camera 0, MJPEG preview and /status on port 8080",
                    "# --serve 0.0.0.0 serves on ALL network interfaces, on purpose: the preview is for other machines "
                    "on your\n# network. Anyone who can reach port 8080 sees the camera. Use --serve 127.0.0.1:8080 to "
                    "keep it on the Pi.",
                    "live --source 0 --no-display --serve 0.0.0.0:8080",
                    "to classify camera 0 at boot, with a preview on http://<this-pi>:8080/ :"),
    "serve": Service("fmnist-serve", "fmnist serve: the classify API (POST /classify) on port 8000",
                     "# --host 0.0.0.0 serves on ALL network interfaces, on purpose: the API is for other machines on "
                     "your\n# network. Anyone who can reach port 8000 can classify. Use --host 127.0.0.1 to keep it "
                     "on the Pi.",
                     "serve --host 0.0.0.0 --port 8000",
                     "to answer POST http://<this-pi>:8000/classify from boot on:"),
}


def _filled(text: str, service: Service) -> str:
    """install.sh or the unit, for this service."""
    for key, value in (("UNIT", service.unit), ("DESCRIPTION", service.description), ("COMMENT", service.comment),
                       ("COMMAND", service.command), ("AT_BOOT", service.at_boot)):
        text = text.replace(f"@{key}@", value)
    return text


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


MARKER = ".fmnist-bundle"  # in every bundle folder: the files fmnist bundle wrote there, with their sha256
ARCHIVE_MARK = ".fmnist-archive"  # beside it: the sha256 of the --out.tar.gz that fmnist bundle wrote with it


def _write_marker(folder: Path) -> None:
    """Record every file now in `folder`: an earlier bundle may be replaced only while it holds just these."""
    record_tree(folder, MARKER, f"fmnist {__version__} bundle")


def _is_archive_mark(entry: Path) -> bool:
    """Is `entry` the archive's sha256 that fmnist bundle keeps beside its marker? Only a regular file of that form
    is: a folder or a file of yours under its name is not, and so it is never removed with the earlier bundle."""
    try:
        found = os.lstat(entry)
        return (stat.S_ISREG(found.st_mode) and found.st_size == 65
                and re.fullmatch(r"[0-9a-f]{64}\n", entry.read_text()) is not None)
    except (OSError, UnicodeDecodeError):
        return False


# why an earlier --out is kept (fmnist.core.tree_record's reasons), and the fix
_KEPT = {
    "not made": f"exists and is not a bundle made by fmnist bundle (no {MARKER} in it); nothing was touched. Choose a "
                "new folder, or move it away",
    "no list": f"is a bundle whose {MARKER} lists no files (an older fmnist's), so an edit in it cannot be told apart; "
               "nothing was touched. Move it away (or delete it), or choose another --out",
    "changed": "is an earlier bundle holding {detail}; nothing was touched. Move those out of it (or delete them), or "
               "choose another --out",
    "unreadable": "cannot be read ({detail}); nothing was touched. Choose another --out",
}


def _refuse_unless_replaceable(found: Path, out: Path) -> None:
    """`found` (--out, or the earlier --out once moved aside) is replaced only if nothing a user made or edited
    is in it."""
    why = refusal(found, MARKER, "fmnist bundle",
                  skip=lambda entry: entry.name == ARCHIVE_MARK and _is_archive_mark(entry))
    if why:
        raise UsageError(f"--out {out} " + _KEPT[why.reason].format(detail=why.detail))


def _archive_of(out: Path) -> Path:
    """--out.tar.gz, beside --out; --out must name a folder of its own (not ., .. or /)."""
    if out.name in ("", ".", ".."):
        raise UsageError(f"--out {out} names no folder of its own; give the bundle a new folder, e.g. --out "
                         "dist/fmnist-pi")
    return out.with_name(out.name + ".tar.gz")


MARK_BYTES = 256  # ARCHIVE_MARK holds a sha256 in hex and a newline


def _archive_is_ours(out: Path, archive: Path) -> bool:
    """The archive beside an earlier bundle is the one that bundle recorded (ARCHIVE_MARK), unchanged. Both read
    through descriptors that follow no link and wait on no pipe (a name swapped meanwhile is no match)."""
    digest = sha256_regular(archive)
    try:
        with opened_regular(out / ARCHIVE_MARK, follow=False) as found:
            if digest is None or found is None or found[1].st_size > MARK_BYTES:
                return False
            return os.read(found[0], MARK_BYTES).decode(errors="replace").strip() == digest
    except OSError:
        return False


def _check_target(out: Path, archive: Path) -> None:
    """--out may be new, or an earlier bundle as fmnist bundle wrote it; anything else is refused untouched."""
    blocking = next((p for p in reversed(out.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise UsageError(f"--out {out}: {blocking} is a file, not a folder; choose another --out")
    if os.path.lexists(out):
        _refuse_unless_replaceable(out, out)
        if os.path.lexists(archive) and not _archive_is_ours(out, archive):
            raise UsageError(f"{archive} exists and is not the archive fmnist bundle made with {out} (or it was "
                             "changed since); nothing was touched. Move it away, or choose another --out")
    elif os.path.lexists(archive):
        raise UsageError(f"{archive} exists and its bundle folder {out} does not; nothing was touched. Choose "
                         "another --out, or move the archive away")


TIE = 0.02  # the self-test takes the recorded label within this of the top score: another CPU's int8 rounding
# may swap a near tie (aarch64 read 0.4584 where x86 read 0.4580), which is no fault of the install


def _expected(model: Path, sample: Path, say: Callable[[str], None]) -> dict[str, object]:
    """The answer the Pi's self-test must find: the sample read and classified by the one path `fmnist classify`
    takes (classify_path: a large JPEG decoded at the model's scale); an error names the user's files. A sample
    the model is not sure about still makes a self-test (the same answer on the Pi), and `say` warns of it."""
    from fmnist.runtime.batch import classify_path, label_text
    from fmnist.runtime.classifier import Classifier
    from fmnist.runtime.image import ImageError

    outcome = classify_path(Classifier(model), sample)
    if outcome.result is None:  # not an image, or too large: classify's own reason
        raise ImageError(str(outcome.error))
    best = outcome.result.best
    if not outcome.result.sure:
        say(f"warning: the model is not sure about the sample {escaped(sample.name)}: {label_text(outcome.result)}, "
            f"its threshold {outcome.result.threshold:.2f}; the self-test then checks only that the Pi gives that "
            "same answer: pass --sample with a photo it is sure of (for a model of your own classes, one of them)")
    return {"label": best.label, "score": round(best.score, 4), "tie": TIE}


def _staging(out: Path) -> Path:
    """The folder the bundle is built in, beside --out."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return temp_folder(out)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot make a folder in {out.parent}: {e.strerror or e}; choose a folder "
                         "you can write to") from e


def _fill(folder: Path, model: Path, sample: Path, expected: dict[str, object], wheel: Path | None,
          service: Service) -> None:
    """Everything the Pi needs, in `folder`, and the marker listing it."""
    unit = f"{service.unit}.service.in"
    try:
        shutil.copy(model, folder / "model.onnx")
        shutil.copy(sample, folder / "sample.jpg")
        (folder / "expected.json").write_text(json.dumps(expected) + "\n")
        (folder / "requirements.txt").write_text("\n".join(requirements()) + "\n")
        fmnist_wheel(folder, wheel)
        for name, text in (("install.sh", INSTALL), ("selftest", SELFTEST), (unit, UNIT)):
            (folder / name).write_text(_filled(text, service))
            (folder / name).chmod(0o755 if name != unit else 0o644)
        _write_marker(folder)
    except OSError as e:  # a full disk, mostly
        raise FmnistError(f"cannot write the bundle in {folder.parent}: {e.strerror or e}; free some space or "
                          "choose another --out (an earlier bundle is unchanged)") from e


def _swap_in(staging: Path, out: Path) -> None:
    """The finished folder at --out; an earlier bundle is vetted once more after it is moved aside, and put back
    if anything in it is not as fmnist bundle wrote it. It waits in a new private folder (temp_folder), so the
    only folder ever removed is the earlier bundle, vetted, under a name no one else had."""
    try:
        holder = temp_folder(out)
    except OSError as e:
        raise FmnistError(f"cannot put the bundle at {out}: {e.strerror or e}; nothing was replaced") from e
    try:
        swap_folder(staging, out, holder / out.name, check=lambda earlier: _refuse_unless_replaceable(earlier, out))
    except OSError as e:
        raise FmnistError(f"cannot put the bundle at {out}: {e.strerror or e}; nothing was replaced") from e
    finally:
        _remove_if_empty(holder)


def _remove_if_empty(folder: Path) -> None:
    """rmdir, never rmtree: a folder left holding anything stays."""
    with contextlib.suppress(OSError):
        folder.rmdir()


def bundle(model: str | Path | None, out: Path, sample: Path | None = None, wheel: Path | None = None,
           service: str = "live", say: Callable[[str], None] = lambda line: None) -> Path:
    """Write the bundle folder `out` and `out`.tar.gz; return the archive's path. The bundle is built in a
    temporary folder beside `out` and swapped in only when complete: a failed or interrupted build leaves an
    earlier bundle as it was; a folder that is not a bundle, or an earlier bundle holding a file it did not write
    or one edited since, is refused untouched, checked before the build and again just before the swap. Its systemd
    unit runs `service`: "live" (camera 0 and its preview) or "serve" (the classify API). Under
    fmnist.core.signals.stop_as_interrupt, Ctrl-C or SIGTERM ends it with nothing of its own left (the temporary
    folder, the archive's temporary file, the wheel's build folder); one that comes while the finished bundle is put
    in place waits for that and is raised as StoppedOnceWritten."""
    from fmnist.runtime.classifier import default_model
    from fmnist.runtime.shipped import resolve

    model = resolve(model)  # a shipped model's name, or a path
    found = recognise(model)
    if found is None or not found.runtime:
        raise ModelError(f"{model}: a Pi bundle carries a model the runtime runs ({runtime_formats()}); export one "
                         "with fmnist export")
    out = Path(out)
    archive = _archive_of(out)
    _check_target(out, archive)
    sample = Path(sample) if sample else default_model().with_name(SAMPLE)
    expected = _expected(model, sample, say)
    staging: Path | None = None
    placed = False
    try:
        with whole():  # the folder made and its name kept, together: a stop cannot fall between the two
            staging = _staging(out)
        _fill(staging, model, sample, expected, wheel, SERVICES[service])
        with contextlib.ExitStack() as archiving:
            with whole():  # likewise the archive's temporary file
                tmp = archiving.enter_context(atomic_path(archive))
            with tarfile.open(tmp, "w:gz") as tar:
                tar.add(staging, arcname=out.name)
            _check_target(out, archive)  # again: the build took seconds, and --out may have appeared or changed
            made = sha256_file(tmp)
            with _placing(archive):
                _swap_in(staging, out)
                placed = True
                archiving.close()  # the archive renamed over its name
                atomic_write_bytes(out / ARCHIVE_MARK, (made + "\n").encode())  # a later bundle may replace it
    finally:
        if staging is not None and not placed:  # once placed, its name is --out's and no longer ours
            shutil.rmtree(staging, ignore_errors=True)
    return archive


class StoppedOnceWritten(KeyboardInterrupt):
    """Ctrl-C or a stop signal that came while the finished bundle was put in place: it waited for that
    (milliseconds), so the bundle and its archive are whole at --out."""

    def __init__(self, archive: Path) -> None:
        super().__init__(str(archive))
        self.archive = archive


@contextlib.contextmanager
def _placing(archive: Path) -> Iterator[None]:
    """The last step, whole (fmnist.core.signals.whole): the folder swapped in, the archive renamed and recorded.
    A stop that came meanwhile is raised once they are done, as StoppedOnceWritten."""
    try:
        with whole():
            yield
    except KeyboardInterrupt as e:
        raise StoppedOnceWritten(archive) from e
