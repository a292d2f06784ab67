"""What a run folder fmnist wrote before the manifest existed holds (fmnist 0.2.0 and older), told file by file:
fmnist.train.run_folder replaces such a file only when the folder has no manifest (fmnist.core.owned).

A run card (metrics.json) alone proves nothing of the files beside it: anyone's folder may hold one. A file is an
earlier run's only if the folder's metrics.json is a whole run card and the file holds what a run writes under its
name, written with the card (within RUN_WINDOW of it): the Keras model saved by the card's Keras version, a
history of numbers per epoch, a picture drawn by Matplotlib, an archive of .npy arrays. A model, history or plot of
yours that merely sits beside a run card (copied in later, or made another day) is refused.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fmnist.core.errors import ModelError
from fmnist.evaluation.keras_archive import check_keras_zip

CARD = "metrics.json"
CARD_LIMIT = 16 << 20  # bytes: a run card or a history is a few KB
RUN_WINDOW = 3600  # seconds between the card and a file of its run: a run writes its files within minutes
KERAS_METADATA_LIMIT = 1 << 16  # bytes of a .keras file's metadata.json: {"keras_version", "date_saved"}
PNG_HEAD = 4096  # bytes of a PNG read for the chunks before its pixels (Matplotlib's Software text is the first)


def run_card(path: Path) -> dict[str, Any] | None:
    """The run card an fmnist run wrote at `path` (its model, and its provenance: fmnist's and Keras's versions and
    when it was made), or None."""
    card = _json(path)
    if not isinstance(card, dict) or not isinstance(card.get("model"), str):
        return None
    versions = card.get("versions")
    if not isinstance(versions, dict) or not all(isinstance(versions.get(k), str) for k in ("fmnist", "keras")):
        return None
    return card if isinstance(card.get("created"), str) else None


def earlier_run(folder: Path) -> Callable[[Path], bool]:
    """For fmnist.core.owned: is a file in `folder` one an earlier run wrote there, beside its run card?"""
    card_path = Path(folder) / CARD

    def earlier(path: Path) -> bool:
        card = run_card(card_path)
        if card is None:
            return False
        if path.name == CARD:
            return True
        check = HOLDS.get(path.suffix)
        return check is not None and _written_with(path, card_path) and check(path, card)

    return earlier


def _written_with(path: Path, card: Path) -> bool:
    try:
        return abs(os.lstat(path).st_mtime - os.lstat(card).st_mtime) <= RUN_WINDOW
    except OSError:
        return False


def _json(path: Path) -> Any:
    """A small regular file's JSON, or None."""
    try:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode) or found.st_size > CARD_LIMIT:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def _keras_model(path: Path, card: dict[str, Any]) -> bool:
    """A Keras model file (a zip of config.json, model.weights.h5 and metadata.json) saved by the card's Keras."""
    try:
        check_keras_zip(path)  # its zip directory is bounded before zipfile reads it; only metadata.json is read
        with zipfile.ZipFile(path) as archive:
            if not {"config.json", "model.weights.h5"} <= set(archive.namelist()):
                return False
            if archive.getinfo("metadata.json").file_size > KERAS_METADATA_LIMIT:
                return False
            saved = json.loads(archive.read("metadata.json"))
    except (ModelError, OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile, RuntimeError,
            NotImplementedError):
        return False
    return isinstance(saved, dict) and saved.get("keras_version") == card["versions"]["keras"]


def _history(path: Path, card: dict[str, Any]) -> bool:
    """A training history: each metric's value per epoch, the loss among them."""
    history = _json(path)
    return (isinstance(history, dict) and isinstance(history.get("loss"), list)
            and all(isinstance(values, list) and all(isinstance(v, int | float) for v in values)
                    for values in history.values()))


def _matplotlib_png(path: Path, card: dict[str, Any]) -> bool:
    """A PNG that Matplotlib drew: its Software text says so, before the pixels."""
    try:
        with open(path, "rb") as f:
            head = f.read(PNG_HEAD)
    except OSError:
        return False
    if not head.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    pos = 8
    while pos + 8 <= len(head) and head[pos + 4 : pos + 8] != b"IDAT":
        size, kind = int.from_bytes(head[pos : pos + 4], "big"), head[pos + 4 : pos + 8]
        if kind == b"tEXt" and head[pos + 8 : pos + 8 + size].startswith(b"Software\0Matplotlib"):
            return True
        pos += 12 + size
    return False


def _arrays(path: Path, card: dict[str, Any]) -> bool:
    """An .npz archive: .npy arrays and nothing else."""
    from fmnist.evaluation.testset import OWN_KEYS, check_npz  # OpenCV: only for an .npz

    try:
        check_npz(path, OWN_KEYS, "")  # its directory bounded before zipfile reads it
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (ModelError, OSError, ValueError, zipfile.BadZipFile):
        return False
    return bool(names) and all(name.endswith(".npy") for name in names)


HOLDS: dict[str, Callable[[Path, dict[str, Any]], bool]] = {
    ".keras": _keras_model, ".json": _history, ".png": _matplotlib_png, ".npz": _arrays}
