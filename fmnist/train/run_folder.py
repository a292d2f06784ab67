"""The run folder `train`, `train-own` and the photo model write: fmnist re-uses one it made (its files are
written over, as a new run replaces the old), and never replaces a file it did not write there
(fmnist.core.owned). Checked before training starts, and again as each file is written."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fmnist.core.errors import UsageError
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
    """`out` is neither one of the photo folders a run reads nor inside one: its files (the plots are images) would
    be read as a class of photos by the next run. UsageError, before anything is read."""
    where = Path(out).resolve()
    for root in photos:
        if root is not None and where.is_relative_to(Path(root).resolve()):
            raise UsageError(f"--out {out} is inside the photo folder {root}: the run's files would be read as photos "
                             "of a class next time; write the run elsewhere (e.g. runs/own)")
