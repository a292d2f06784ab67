"""The run folder `train`, `train-own` and the photo model write: fmnist re-uses one it made (its files are
written over, as a new run replaces the old), and never replaces a file it did not write there
(fmnist.core.owned). Checked before training starts, and again as each file is written."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from fmnist.core.owned import OwnedFolder

COMMON = ("model.keras", "history.json", "metrics.json", "curves.png")  # what every run writes (run.write_run)
CARD_LIMIT = 16 << 20  # bytes: a run card is a few KB


def _is_run_card(path: Path) -> bool:
    """Is `path` the metrics.json an fmnist run wrote (its provenance names fmnist's version)?"""
    try:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode) or found.st_size > CARD_LIMIT:
            return False
        card = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    versions = card.get("versions") if isinstance(card, dict) else None
    return isinstance(versions, dict) and isinstance(versions.get("fmnist"), str) and "model" in card


def run_folder(out: Path, more: Iterable[str] = ()) -> OwnedFolder:
    """`out` as a run writes it: COMMON and `more`. Refused (UsageError, nothing written) if one of them is a file
    fmnist did not write. A folder an fmnist run wrote before the manifest existed is recognised by its run card:
    its run files are fmnist's."""
    card = Path(out) / "metrics.json"
    folder = OwnedFolder(Path(out), "--out", earlier=lambda _: _is_run_card(card))
    folder.refuse_foreign([*COMMON, *more])
    return folder
