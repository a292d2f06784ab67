"""Which images a model is judged on, its labels and its preprocessing.

A Fashion-MNIST model: the test images its preprocessing kind names (`Preparation.test_images`, one of TEST_IMAGES):
"fashion-mnist", the 10,000 test images as they are (the cut-out); "rendered", a stratified 2,000 of them rendered as
photos at its size (fmnist.evaluation.render; the photo model's centre crop), calibrated on the photos and rendered
images its run kept (CALIB_DATA). A model trained on your own classes (`fmnist train-own`):
the photos its run held out, kept as prepared arrays (28x28 cut-outs, or the photo tier's colour squares) in
the run folder (OWN_DATA), next to the model and its exports; they also hold the photos int8 calibration uses.
"""

from __future__ import annotations

import lzma
import math
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.core.bounded import megabytes
from fmnist.core.calls import in_calls, step_rows
from fmnist.core.errors import ModelError, printable
from fmnist.core.formats import detect
from fmnist.core.meta import CLASS_NAMES, is_own, read_meta
from fmnist.core.zip_archive import check_zip
from fmnist.data import fashion
from fmnist.data.split import stratified_indices
from fmnist.evaluation.render import render
from fmnist.evaluation.run_card import RunCard
from fmnist.runtime.decision import DEFAULT_THRESHOLD, model_threshold
from fmnist.runtime.preparation import CUTOUT, Preparation, preparation_for, recorded

OWN_DATA = "own_data.npz"  # in an own-label run folder: heldout_images/labels/empty, calib_images
OWN_KEYS = ("heldout_images", "heldout_labels", "calib_images")
MAX_OWN_BYTES = 1_000_000_000  # per array of OWN_DATA, uncompressed
MAX_NPZ_MEMBERS = 16  # a run's .npz holds its three arrays
CALIB_DATA = "calib_data.npz"  # in a photo model's run folder: calib_images (photos and rendered images)
FMNIST_TEST = "Fashion-MNIST test images"
FMNIST_RENDERED = "Fashion-MNIST test images rendered as photos (a stratified 2,000)"
RENDERED_TEST = 2000  # of the test images, stratified: a 160 px model runs 10,000 in minutes per file
MAX_RENDERED_BYTES = 160_000_000  # fewer for a larger side (a 1024 px model: 50), so memory stays bounded
RENDER_CALIB = 128  # rendered training images to calibrate a colour model on when its run kept none
# whatever reading an .npz may raise on a damaged or crafted archive: an encrypted member (RuntimeError), a
# compression method zipfile lacks (NotImplementedError), a damaged stream (zlib, lzma, bz2's OSError), a bad CRC
# (BadZipFile), a damaged .npy header (ValueError, TypeError, SyntaxError, struct.error, OverflowError)
ARCHIVE_ERRORS = (OSError, EOFError, KeyError, ValueError, TypeError, SyntaxError, RuntimeError, NotImplementedError,
                  OverflowError, struct.error, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


@dataclass(frozen=True)
class TestSet:
    images: np.ndarray  # (N, *preparation.image_shape) uint8
    labels: np.ndarray  # (N,) index into names
    names: list[str]  # the model's labels
    what: str  # how reports name these images
    calib: np.ndarray | None = None  # own labels: (M, *image_shape) uint8 training photos for int8 calibration
    preparation: Preparation = CUTOUT  # how the images were made, and how they become the model's input

    def inputs(self, images: np.ndarray | None = None) -> np.ndarray:
        """The model's input for these images (or others prepared the same way)."""
        return self.preparation.to_input(self.images if images is None else images)

    def probs(self, predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray | None = None) -> np.ndarray:
        """predict's output for these images (or others prepared the same way), made model input step_rows at a
        time (fmnist.core.calls): 2,000 colour squares of 160 px never sit in memory as 600 MB of float32, and
        a Keras model still gets its steps of 64."""
        images = self.images if images is None else images
        probs = in_calls(lambda chunk: predict(self.inputs(chunk)), images, step_rows(images.shape[1:]))
        if probs.shape != (len(images), len(self.names)):
            raise ModelError(f"the model gives {probs.shape[1:]} for an image, but has {len(self.names)} labels: the "
                             "output count and the labels disagree; re-export it with fmnist export")
        return probs

    @property
    def own(self) -> bool:
        return is_own(self.names)


@dataclass(frozen=True)
class Described:
    """What a model says of itself: an exported file's metadata, or for a format that embeds none (a .keras file) its
    run card."""

    labels: list[str]
    preparation: Preparation  # another preprocessing version is refused (PreprocessMismatch) when read
    threshold: float  # its "not sure" threshold for photos


def describe(model: Path) -> Described:
    """Read a model's labels, preprocessing and threshold once (see Described)."""
    model = Path(model)
    if detect(model).reader is None:
        card = RunCard.read(model.parent)
        if card is None:
            return Described(list(CLASS_NAMES), CUTOUT, DEFAULT_THRESHOLD)
        threshold = card.threshold if card.threshold is not None else DEFAULT_THRESHOLD
        return Described(card.labels, recorded(card.preprocess, card.folder)[0], threshold)
    meta = read_meta(model)
    return Described(list(meta.labels) if meta else list(CLASS_NAMES), preparation_for(meta, model)[0],
                     model_threshold(meta))


def labels_of(model: Path) -> list[str]:
    return describe(model).labels


def test_set_for(model: Path, data_dir: Path | None = None, described: Described | None = None) -> TestSet:
    """The images `model` is judged on (see the module doc)."""
    described = described or describe(model)
    names = described.labels
    if not is_own(names):
        return _fashion_test(Path(model), names, described.preparation, data_dir)
    path = Path(model).parent / OWN_DATA
    if not path.is_file():
        raise ModelError(f"{model} has its own labels ({', '.join(names)}), and its held-out photos ({OWN_DATA}) "
                         f"are not next to it; keep it in its run folder, or judge it on a photo folder with "
                         "fmnist evaluate --model MODEL --photos DIR")
    images, labels, calib_images = _own_arrays(path, len(names), described.preparation)
    return TestSet(images, labels, names, "held-out photos", calib_images, described.preparation)


def _npz_arrays(path: Path, keys: tuple[str, ...], fix: str) -> list[np.ndarray]:
    """The arrays `keys` of a run's .npz, each checked before it is decompressed or allocated (_check_member): a
    file beside a model is anyone's. ModelError naming the file and `fix` otherwise, whatever fails (ARCHIVE_ERRORS)."""
    check_npz(path, keys, fix)
    try:
        with zipfile.ZipFile(path) as archive:  # each array read from its own member, {key}.npy, and nowhere else
            for key in keys:
                _check_member(archive, key, path, fix)
            return [_read_member(archive, key) for key in keys]
    except ARCHIVE_ERRORS as e:
        raise ModelError(f"{path} is not a run's {path.name} ({type(e).__name__}: {printable(e, 80)}); "
                         f"{fix}") from None


def check_npz(path: Path, keys: tuple[str, ...], fix: str) -> None:
    """ModelError unless `path` is a zip archive within a run's .npz bounds (fmnist.core.zip_archive): stored or
    deflated members, which numpy reads a chunk at a time, MAX_OWN_BYTES for each of `keys`."""
    check_zip(path, f"a run's {path.name}", len(keys) * MAX_OWN_BYTES, MAX_NPZ_MEMBERS,
              {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}, fix)


def _read_member(archive: zipfile.ZipFile, key: str) -> np.ndarray:
    """What np.load gives for `key`, read from `key`.npy only (np.load's NpzFile would take a member named `key`
    first, which _check_member never saw), a chunk at a time."""
    with archive.open(f"{key}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _check_member(archive: zipfile.ZipFile, key: str, path: Path, fix: str) -> None:
    """The member `key`.npy holds at most MAX_OWN_BYTES (the zip's size, which bounds what is decompressed), and
    its .npy header declares exactly the bytes that follow it (shape x itemsize): np.load allocates what the
    header declares, so a forged shape of 10^12 images is refused here, not met as a MemoryError."""
    size = archive.getinfo(f"{key}.npy").file_size
    if size > MAX_OWN_BYTES:
        raise ModelError(f"{path}: {key} is {megabytes(size)}, over the {megabytes(MAX_OWN_BYTES)} an array of a "
                         f"run may take; {fix}")
    with archive.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(member)
        declared, held = math.prod(shape) * dtype.itemsize, size - member.tell()
    if declared != held:
        raise ModelError(f"{path}: {key} declares a {printable(shape, 80)} {dtype} array ({declared:,} bytes), "
                         f"but holds {held:,} bytes; {fix}")


def _own_arrays(path: Path, classes: int, preparation: Preparation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OWN_DATA's held-out images and labels and its calibration images, each checked before it is used."""
    images, labels, calib = _npz_arrays(path, OWN_KEYS, "train the model again with fmnist train-own")
    shape = preparation.image_shape
    if not (images.dtype == calib.dtype == np.uint8 and images.shape[1:] == shape == calib.shape[1:]
            and len(images) > 0 and labels.shape == (len(images),) and labels.dtype.kind in "iu"
            and labels.min() >= 0 and labels.max() < classes):
        raise ModelError(f"{path} does not hold this model's held-out photos ({len(images)} of "
                         f"{images.shape[1:]} {images.dtype}, labels {labels.dtype} {labels.shape}); train the model "
                         "again with fmnist train-own")
    return images, labels, calib


def _fashion_test(model: Path, names: list[str], preparation: Preparation, data_dir: Path | None) -> TestSet:
    """The Fashion-MNIST test images the model's kind names (TEST_IMAGES); ModelError for a name fmnist lacks."""
    read = TEST_IMAGES.get(preparation.test_images)
    if read is None:
        raise ModelError(f"{model}: its preprocessing kind {preparation.kind!r} is judged on test images "
                         f"{printable(preparation.test_images)}, which this fmnist does not make (it makes "
                         f"{', '.join(TEST_IMAGES)}); use the fmnist release that made the model")
    return read(model, fashion.load_split("test", data_dir), names, preparation, data_dir)


def _as_they_are(model: Path, test: fashion.Split, names: list[str], preparation: Preparation,
                 data_dir: Path | None) -> TestSet:
    """The 10,000 test images as the dataset has them: already what the kind makes of a photo."""
    return TestSet(test.images, test.labels, names, FMNIST_TEST, preparation=preparation)


def _rendered(model: Path, test: fashion.Split, names: list[str], preparation: Preparation,
              data_dir: Path | None) -> TestSet:
    """The test set as a colour model sees it: rendered as photos at its size, and its calibration images."""
    calib_path = model.parent / CALIB_DATA
    if calib_path.is_file():
        fix = "train the model again with fmnist train --model photo"
        (calib,) = _npz_arrays(calib_path, ("calib_images",), fix)
        if not (calib.dtype == np.uint8 and calib.shape[1:] == preparation.image_shape and len(calib) > 0):
            raise ModelError(f"{calib_path} does not hold this model's calibration images ({calib.dtype} "
                             f"{calib.shape}); {fix}")
    else:
        train = fashion.load_split("train", data_dir)
        calib = render(train.images[stratified_indices(train.labels, RENDER_CALIB, 0)], preparation.size)
    images, labels = rendered_test(test, preparation.size)
    return TestSet(images, labels, names, FMNIST_RENDERED, calib, preparation)


# the Fashion-MNIST test images a kind can name (Preparation.test_images)
TEST_IMAGES: dict[str, Callable[[Path, fashion.Split, list[str], Preparation, Path | None], TestSet]] = {
    "fashion-mnist": _as_they_are, "rendered": _rendered}


def rendered_test(test: fashion.Split, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The test images a colour model of side `size` is judged on, rendered as photos, and their labels: a
    stratified RENDERED_TEST, fewer for a large side (at most MAX_RENDERED_BYTES)."""
    count = max(10, min(RENDERED_TEST, MAX_RENDERED_BYTES // (size**2 * 3)))
    rows = stratified_indices(test.labels, count, 0)
    return render(test.images[rows], size), test.labels[rows]
