"""A .keras file, checked before TensorFlow loads (0.1-0.3 s for fmnist's models; its weights file is read into
memory, as Keras reads it, and its structure visited): Keras reads its members whole, so each must be bounded
first.

- The zip archive (fmnist.core.zip_archive): at most MAX_KERAS_BYTES on disk and inflated, MAX_KERAS_MEMBERS
  members, each stored, as Keras writes it.
- config.json and metadata.json at most MAX_KERAS_JSON each: parsed JSON takes some 30 times its bytes (the photo
  model's config is 150 KB).
- model.weights.h5, which h5py reads a dataset whole at a time before Keras compares its shape: at most
  MAX_H5_OBJECTS groups and datasets, hard links only (Keras refuses a soft or external link itself, later), and
  every dataset an array of plain numbers holding in the file exactly the bytes it declares (as Keras writes
  them: not virtual, no compression, no fill value standing in for unwritten data, no variable-length data, each
  attribute a single value), so what is read is bounded by the file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from fmnist.core.errors import ModelError, needs_train_extra
from fmnist.core.zip_archive import check_zip

MAX_KERAS_BYTES = 200_000_000  # on disk, and its members inflated (an .onnx file's limit); fmnist's are 1 to 20 MB
MAX_KERAS_MEMBERS = 1_000  # Keras writes three (config.json, metadata.json, model.weights.h5), and assets if any
MAX_KERAS_JSON = 4_000_000  # bytes of config.json or metadata.json
JSON_MEMBERS = ("config.json", "metadata.json")
WEIGHTS = "model.weights.h5"
MAX_H5_OBJECTS = 20_000  # links in the weights file (groups and datasets): Lite0's has 535, DenseNet121's 2,198
REDO = "re-run fmnist train to write it again"


def check_keras_zip(path: Path) -> None:
    """ModelError unless `path` is a zip archive within a .keras file's bounds: enough to list its members or
    hash it, not to load it (milliseconds)."""
    check_zip(path, "a Keras model", MAX_KERAS_BYTES, MAX_KERAS_MEMBERS, {zipfile.ZIP_STORED}, REDO)


def check_keras_archive(path: Path) -> None:
    """ModelError unless `path` is a .keras file within all the bounds above, as Keras is about to read it whole."""
    check_keras_zip(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            for name in names & set(JSON_MEMBERS):
                if (size := archive.getinfo(name).file_size) > MAX_KERAS_JSON:
                    raise ModelError(f"cannot load {path} as a Keras model: its {name} is {size:,} bytes, over the "
                                     f"{MAX_KERAS_JSON:,} it may take; {REDO}")
            if WEIGHTS in names:
                _check_weights(archive, path)
    except (OSError, ValueError, RuntimeError, KeyError, zipfile.BadZipFile) as e:  # h5py: OSError, ValueError
        raise ModelError(f"cannot load {path} as a Keras model (its {WEIGHTS} cannot be read: {e}); {REDO}") from e


def _check_weights(archive: zipfile.ZipFile, path: Path) -> None:
    try:
        import h5py  # Keras' own dependency
    except ImportError as e:
        raise needs_train_extra("h5py") from e

    seen = 0

    def problem(name: str, link: object) -> str | None:
        """What is wrong with this link and what it names, if anything: a value stops the visit."""
        nonlocal seen
        seen += 1
        if seen > MAX_H5_OBJECTS:
            return f"holds more than {MAX_H5_OBJECTS:,} objects"
        if not isinstance(link, h5py.HardLink):  # a soft or external link: another file, a FIFO, /dev/zero
            return f"links {name[:80]!r} elsewhere ({type(link).__name__})"
        item = weights[name]
        return _dataset_problem(name, item) if isinstance(item, h5py.Dataset) else None

    # the stored member, at most MAX_KERAS_BYTES, in memory as Keras holds it: h5py reads a zip member slowly
    with h5py.File(io.BytesIO(archive.read(WEIGHTS)), "r") as weights:
        found = weights.visititems_links(problem)
    if found:
        raise ModelError(f"cannot load {path} as a Keras model: its {WEIGHTS} {found}; {REDO}")


def _dataset_problem(name: str, dataset: Any) -> str | None:
    """A weights dataset as Keras writes one, or what is not: plain numbers (bfloat16 is opaque, kind V), whose
    bytes are all in the file; single-value attributes (Keras' dtype string). Variable-length data or attributes
    point at heap objects any number of times: a 2 MB file read as 6.7 GB."""
    dtype = dataset.dtype
    if dataset.shape is None or dtype.kind not in "biufV" or dtype.fields or dtype.subdtype:
        return f"dataset {name[:80]!r} is not an array of numbers ({dtype}, shape {dataset.shape})"
    declared, held = dataset.size * dtype.itemsize, dataset.id.get_storage_size()
    if dataset.is_virtual or held != declared:
        return f"dataset {name[:80]!r} declares {declared:,} bytes but holds {held:,}"
    for attribute in dataset.attrs:
        if dataset.attrs.get_id(attribute).shape != ():
            return f"dataset {name[:80]!r} has an attribute {attribute[:40]!r} of more than one value"
    return None
