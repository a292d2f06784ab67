"""The run folder `train`, `train-own` and the photo model write: fmnist re-uses one it made (its files are
written over, as a new run replaces the old), and never replaces a file it did not write there
(fmnist.core.owned). Checked before training starts, and again as each file is written."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from fmnist.core.errors import DataError, UsageError
from fmnist.core.owned import OwnedFolder
from fmnist.train.earlier_run import earlier_run

COMMON = ("model.keras", "history.json", "metrics.json", "curves.png")  # what every run writes (run.write_run)


def run_folder(out: Path, more: Iterable[str] = ()) -> OwnedFolder:
    """`out` as a run writes it: COMMON and `more`. Refused (UsageError, nothing written) if one of them is a file
    fmnist did not write. In a folder an fmnist run wrote before the manifest existed, each file is told as that
    run's by what it holds beside the run card (fmnist.train.earlier_run)."""
    folder = OwnedFolder(Path(out), "--out", earlier=earlier_run(Path(out)))
    folder.refuse_foreign([*COMMON, *more])
    return folder


def check_apart(out: Path, photos: Iterable[Path | None]) -> None:
    """`out` is neither one of the photo folders a run reads nor inside one (nor inside a class folder's real
    folder, where a class folder is a link): its files (the plots are images) would be read as a class of photos by
    the next run. UsageError, before anything is read."""
    where = os.path.realpath(out)  # never raises: a symlink loop is told by the run folder's own check
    for root in (r for r in photos if r is not None):
        if any(Path(where).is_relative_to(real) for real in _real_folders(Path(root))):
            raise UsageError(f"--out {out} is inside the photo folder {root}: the run's files would be read as photos "
                             "of a class next time; write the run elsewhere")


def _real_folders(root: Path) -> list[str]:
    """The real paths of `root` and of its class folders (links followed)."""
    from fmnist.evaluation.photo_set import class_folders  # here: the CLI's help imports this module

    try:
        folders, _ = class_folders(root)
    except DataError:
        folders = []  # the photo folder's own reader says what is wrong with it
    return [os.path.realpath(path) for path in (root, *folders)]
