"""The files `fmnist export` writes into its folder, and which of those already there it may replace.

Export replaces a file only if fmnist wrote it (fmnist.core.owned): one its manifest lists unchanged, or, in a
folder with no manifest at all, what an earlier export of the same .keras file made there: a model file whose
metadata names that file's sha256, and the report (parity.json and parity.md) when parity.json names the same
sha256 and a file it judged is such a model, with that report's rejected copies and flips pictures. A model.onnx or
parity.md of the user's, fmnist's shipped model copied in, or another run's export in a folder with no manifest, is
refused before anything is built. Another model's export that fmnist wrote (listed in the manifest) is replaced
where this export writes the same names; those it does not write are named on stderr at the end, never removed
(fmnist.export.pipeline).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from fmnist.core.bounded import sha256_file
from fmnist.core.errors import FmnistError
from fmnist.core.formats import EXPORT_REPORTS, recognise, rejected_name
from fmnist.core.meta import read_meta
from fmnist.core.owned import OwnedFolder
from fmnist.export.parity import flips_picture
from fmnist.export.targets import ExportOptions, files

REPORT_LIMIT = 4 << 20  # bytes: an earlier parity.json is a few KB


def names_for(file: str) -> list[str]:
    """What export may write for one model file: the file, its rejected copy and its flips picture."""
    return [file, rejected_name(file), flips_picture(file)]


def export_names(opts: ExportOptions) -> list[str]:
    """Every name this export may write."""
    return [name for file, _ in files(opts) for name in names_for(file)] + list(EXPORT_REPORTS)


def _reported(out: Path, source_sha256: str) -> set[str]:
    """The names an earlier export of the same .keras file accounts for in its parity.json: the report, and each
    file it judged with its flips picture (and its rejected copy, if it failed). None unless the report names
    `source_sha256` and a file it judged is still a model made from it (_made_from)."""
    path = out / "parity.json"
    try:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode) or found.st_size > REPORT_LIMIT:
            return set()
        report = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return set()
    if not isinstance(report, dict) or report.get("source_sha256") != source_sha256 \
            or not isinstance(report.get("files"), list):
        return set()
    known = {file for file, _ in files(ExportOptions(int8=True, fp16=True))}
    rows = {row["file"]: row for row in report["files"] if isinstance(row, dict) and row.get("file") in known}
    if not any(_made_from(out / file, source_sha256) for file in rows):
        return set()
    return set(EXPORT_REPORTS) | {name for file, row in rows.items()
                          for name in (flips_picture(file), *([rejected_name(file)] if row.get("passed") is False
                                                              else []))}


def _made_from(path: Path, source_sha256: str) -> bool:
    """A model file exported from the .keras file whose sha256 is `source_sha256`: its metadata says so."""
    found = recognise(path) if os.path.isfile(path) and not os.path.islink(path) else None
    if found is None or found.reader is None:
        return False
    try:
        meta = read_meta(path)
    except (FmnistError, OSError, ValueError):
        return False
    return meta is not None and meta.source_sha256 == source_sha256


def export_folder(out: Path, opts: ExportOptions, source: Path) -> OwnedFolder:
    """--out as export of the .keras file `source` writes it; refused (UsageError, nothing written) if a file it
    would write there is not fmnist's."""
    sha256 = sha256_file(source)
    reported = _reported(out, sha256)
    folder = OwnedFolder(out, "--out", earlier=lambda path: path.name in reported or _made_from(path, sha256))
    folder.refuse_foreign(export_names(opts))
    return folder
