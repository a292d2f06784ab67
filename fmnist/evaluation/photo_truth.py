"""What counts as right for each photo of a folder tree: its folder's labels in the photo map
(fmnist.evaluation.photo_map), refined by the labels given by eye where there are some (photo_labels).

- strict: the one answer a person would give, or none where the strict figure leaves the photo out (a shoe that is
  none of the three shoe classes, a folder mapped to no label, a photo of a folder labelled by eye that the label
  file does not know: its folder cannot say which class it is);
- accepted: the answers the lenient figure counts right; none accepted means the right answer is "not sure".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fmnist.core.meta import CLASS_NAMES
from fmnist.evaluation.photo_labels import NONE, OTHER, UNKNOWN, UNLABELLED, PhotoLabels
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import PhotoSet

NO_STRICT = -1


@dataclass(frozen=True)
class PhotoTruth:
    strict: np.ndarray  # (N,) int: the strict answer's index, or NO_STRICT
    accepted: np.ndarray  # (N, labels) bool: the answers the lenient figure counts right

    unknown: int = 0  # photos of folders labelled by eye that the label file does not know (left out of strict)

    @property
    def mapped(self) -> np.ndarray:
        """(N,) bool: the photos with a label; the others' right answer is "not sure"."""
        return self.accepted.any(axis=1)

    def lenient_hits(self, predicted: np.ndarray) -> np.ndarray:
        return self.accepted[np.arange(len(predicted)), predicted]

    def strict_hits(self, predicted: np.ndarray) -> np.ndarray:
        """(N,) bool: the top answer is the strict one (False where strict leaves the photo out)."""
        return predicted == self.strict


def photo_truth(photos: PhotoSet, pmap: PhotoMap, codes: np.ndarray | None = None) -> PhotoTruth:
    """Each photo's truth from its folder, then from its label by eye (`codes`, PhotoLabels.of; None: no labels)."""
    pmap.check(photos.folders)
    n, width = len(photos), len(pmap.labels)
    codes = np.full(n, UNLABELLED, np.int64) if codes is None else np.asarray(codes, np.int64)
    strict, accepted = np.full(n, NO_STRICT, np.int64), np.zeros((n, width), bool)
    for i, folder in enumerate(photos.folders):
        rows, labels = photos.folder_index == i, list(pmap.labels_of(folder))
        accepted[np.ix_(rows, labels)] = True
        strict[rows] = labels[0] if labels else NO_STRICT
    by_eye = codes >= 0
    strict[by_eye], accepted[by_eye, codes[by_eye]] = codes[by_eye], True
    strict[(codes == OTHER) | (codes == UNKNOWN)] = NO_STRICT
    strict[codes == NONE], accepted[codes == NONE] = NO_STRICT, False
    return PhotoTruth(strict, accepted, int(np.sum(codes == UNKNOWN)))


def codes_by_eye(photos: PhotoSet, pmap: PhotoMap, labels: PhotoLabels | None = None) -> np.ndarray | None:
    """Each photo's label by eye in the project's label file (or `labels`), found by the photo's sha256; None for a
    model of its own labels, whose folders say it all."""
    if tuple(pmap.labels) != tuple(CLASS_NAMES):
        return None
    labels = labels or PhotoLabels.load()
    folders = [photos.folders[i] for i in photos.folder_index]
    if photos.digests:  # each file read once
        return labels.of(photos.digests, folders)
    return labels.of_files(photos.paths, folders)
