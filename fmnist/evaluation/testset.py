"""Which images a model is judged on, and its labels.

A Fashion-MNIST model: the 10,000 test images. A model trained on your own classes (`fmnist train-own`):
the photos its run held out, kept as 28x28 arrays in the run folder (OWN_DATA), next to the
model and its exports; they also hold the photos int8 calibration uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.core.errors import ModelError
from fmnist.core.meta import CLASS_NAMES, is_own, read_meta
from fmnist.data import fashion
from fmnist.evaluation.run_card import RunCard

OWN_DATA = "own_data.npz"  # in an own-label run folder: heldout_images/labels/empty, calib_images
FMNIST_TEST = "Fashion-MNIST test images"


@dataclass(frozen=True)
class TestSet:
    images: np.ndarray  # (N, 28, 28) uint8, bright on black
    labels: np.ndarray  # (N,) index into names
    names: list[str]  # the model's labels
    what: str  # how reports name these images
    calib: np.ndarray | None = None  # own labels: (M, 28, 28) uint8 training photos for int8 calibration

    @property
    def own(self) -> bool:
        return is_own(self.names)


def labels_of(model: Path) -> list[str]:
    """A model's labels: an exported file's metadata, or for a .keras file its run card."""
    model = Path(model)
    if model.suffix == ".keras":
        card = RunCard.read(model.parent)
        return card.labels if card else list(CLASS_NAMES)
    meta = read_meta(model)
    return list(meta.labels) if meta else list(CLASS_NAMES)


def test_set_for(model: Path, data_dir: Path | None = None) -> TestSet:
    """The images `model` is judged on (see the module doc)."""
    names = labels_of(model)
    if not is_own(names):
        test = fashion.load_split("test", data_dir)
        return TestSet(test.images, test.labels, names, FMNIST_TEST)
    path = Path(model).parent / OWN_DATA
    if not path.is_file():
        raise ModelError(f"{model} has its own labels ({', '.join(names)}), and its held-out photos ({OWN_DATA}) "
                         f"are not next to it; keep it in its run folder, or judge it on a photo folder with "
                         "fmnist evaluate MODEL --photos DIR")
    with np.load(path) as arrays:
        images, labels, calib_images = arrays["heldout_images"], arrays["heldout_labels"], arrays["calib_images"]
    return TestSet(images, labels, names, "held-out photos", calib_images)
