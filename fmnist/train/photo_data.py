"""Photo folders for training and reporting: read through the runtime's preprocessing (cached), with a
progress bar, unreadable photos listed and skipped, targets from the photo map."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress

from fmnist.core.errors import DataError
from fmnist.evaluation.photo_figures import PhotoFigures, choose_threshold, decision_record, photo_figures
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import PhotoSet, load_photos
from fmnist.evaluation.photo_truth import PhotoTruth, codes_by_eye, photo_truth
from fmnist.runtime.preparation import CUTOUT, Preparation
from fmnist.train.photo_targets import photo_targets


@dataclass(frozen=True)
class PhotoData:
    set: PhotoSet
    pmap: PhotoMap
    x_all: np.ndarray  # (N, 28, 28, 1) float32: every readable photo
    x: np.ndarray  # the photos to learn from: those where the preprocessing found an object
    targets: np.ndarray  # (len(x), 12), fmnist.train.photo_targets
    folder_index: np.ndarray  # (len(x),) each photo's folder
    truth: PhotoTruth  # what counts as right for each readable photo (the folders, then the labels by eye)


def read_photos(root: Path, progress: bool = True, preparation: Preparation = CUTOUT) -> PhotoSet:
    """A folder of class folders through the runtime's preprocessing (`preparation`; the 28x28 cut-out is cached),
    with a progress bar; unreadable photos are listed and skipped."""
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not (progress and console.is_terminal)) as bar:
        task = bar.add_task(f"preparing photos in {root}", total=None)
        photos = load_photos(root, progress=lambda done, total: bar.update(task, completed=done, total=total),
                             preparation=preparation)
    if photos.skipped:
        console.print(f"skipped {len(photos.skipped)} unreadable photo(s) in {root}:", highlight=False)
        for path, reason in photos.skipped:
            console.print(f"  {path}: {reason}", highlight=False, soft_wrap=True)
    if not len(photos):
        raise DataError(f"no photo in {root} could be read ({len(photos.skipped)} tried); give a folder of class "
                        "folders holding photos")
    if progress:
        cached = f" ({photos.cache_hits} from the cache)" if preparation.caches else ""  # the cut-out's is kept
        console.print(f"{len(photos)} photos in {len(photos.folders)} folders from {root}{cached}", highlight=False)
    return photos


def load_photo_data(root: Path, map_path: Path | None = None, progress: bool = True) -> PhotoData:
    pmap = PhotoMap.load(map_path)
    photos = read_photos(root, progress)
    pmap.check(photos.folders)
    x_all = CUTOUT.to_input(photos.images)
    keep = ~photos.empty  # nothing found: the runtime says "not sure" there, so there is nothing to learn
    codes = codes_by_eye(photos, pmap)
    return PhotoData(photos, pmap, x_all, x_all[keep], photo_targets(photos, pmap, codes)[keep],
                     photos.folder_index[keep], photo_truth(photos, pmap, codes))


def photo_report(probs: np.ndarray, photos: PhotoData, coverage: float) -> tuple[PhotoFigures, dict[str, Any]]:
    """(figures at the chosen threshold, the decision record for the model's metadata)."""
    threshold = choose_threshold(probs, photos.set, photos.pmap, coverage, photos.truth)
    figures = photo_figures(probs, photos.set, photos.pmap, threshold, photos.truth)
    return figures, decision_record(figures, coverage)
