"""The files `fmnist export` writes into its folder, and which of those already there it may replace.

Export replaces a file only if fmnist wrote it (fmnist.core.owned): one its manifest lists unchanged, or from an
export made before the manifest existed, a model file carrying fmnist's metadata or a file the folder's
parity.json (fmnist's report) names. A model.onnx or parity.md of the user's is refused before anything is built.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from fmnist.core.errors import FmnistError
from fmnist.core.formats import recognise
from fmnist.core.meta import read_meta
from fmnist.core.owned import OwnedFolder
from fmnist.export.parity import flips_picture
from fmnist.export.targets import ExportOptions, files

REPORT = ("parity.json", "parity.md")
REPORT_LIMIT = 4 << 20  # bytes: an earlier parity.json is a few KB


def rejected_name(file: str) -> str:
    """model.int8.onnx -> model.int8.rejected.onnx"""
    stem, _, suffix = file.rpartition(".")
    return f"{stem}.rejected.{suffix}"


def names_for(file: str) -> list[str]:
    """What export may write for one model file: the file, its rejected copy and its flips picture."""
    return [file, rejected_name(file), flips_picture(file)]


def export_names(opts: ExportOptions) -> list[str]:
    """Every name this export may write."""
    return [name for file, _ in files(opts) for name in names_for(file)] + list(REPORT)


def _reported(out: Path) -> set[str]:
    """The names an earlier export's parity.json accounts for (the report, and each file it judged with its
    rejected copy and picture), if it is a report fmnist wrote; otherwise none."""
    path = out / "parity.json"
    try:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode) or found.st_size > REPORT_LIMIT:
            return set()
        report = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return set()
    if not isinstance(report, dict) or not isinstance(report.get("source_sha256"), str) \
            or not isinstance(report.get("files"), list):
        return set()
    known = {file for file, _ in files(ExportOptions(int8=True, fp16=True))}
    judged = {row.get("file") for row in report["files"] if isinstance(row, dict)} & known
    return set(REPORT) | {name for file in judged for name in names_for(file)}


def _carries_meta(path: Path) -> bool:
    """A model file fmnist exported: its metadata says so."""
    found = recognise(path)
    if found is None or found.reader is None:
        return False
    try:
        return read_meta(path) is not None
    except (FmnistError, OSError, ValueError):
        return False


def export_folder(out: Path, opts: ExportOptions) -> OwnedFolder:
    """--out as export writes it; refused (UsageError, nothing written) if a file it would write there is not
    fmnist's."""
    reported = _reported(out)
    folder = OwnedFolder(out, "--out", earlier=lambda path: path.name in reported or _carries_meta(path))
    folder.refuse_foreign(export_names(opts))
    return folder
