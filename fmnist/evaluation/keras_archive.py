"""A .keras file, checked before TensorFlow loads (a few milliseconds; a 20 MB model's weights file is opened, not
read): Keras reads its members whole, so each must be bounded first.

- The zip archive (fmnist.core.zip_archive): at most MAX_KERAS_BYTES on disk and inflated, MAX_KERAS_MEMBERS
  members, each stored, as Keras writes it.
- config.json and metadata.json at most MAX_KERAS_JSON each: parsed JSON takes some 30 times its bytes (the photo
  model's config is 150 KB).
- model.weights.h5, which h5py reads a dataset whole at a time before Keras compares its shape: every dataset holds
  in the file exactly the bytes it declares (as Keras writes them: no compression, no fill value standing in for
  unwritten data), so what is read is bounded by the file."""

from __future__ import annotations

import zipfile
from pathlib import Path

from fmnist.core.errors import ModelError, needs_train_extra
from fmnist.core.zip_archive import check_zip

MAX_KERAS_BYTES = 200_000_000  # on disk, and its members inflated (an .onnx file's limit); fmnist's are 1 to 20 MB
MAX_KERAS_MEMBERS = 1_000  # Keras writes three (config.json, metadata.json, model.weights.h5), and assets if any
MAX_KERAS_JSON = 4_000_000  # bytes of config.json or metadata.json
JSON_MEMBERS = ("config.json", "metadata.json")
WEIGHTS = "model.weights.h5"
REDO = "re-run fmnist train to write it again"


def check_keras_archive(path: Path) -> None:
    """ModelError unless `path` is a .keras file within the bounds above."""
    check_zip(path, "a Keras model", MAX_KERAS_BYTES, MAX_KERAS_MEMBERS, {zipfile.ZIP_STORED}, REDO)
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

    with archive.open(WEIGHTS) as member, h5py.File(member, "r") as weights:
        datasets: list[h5py.Dataset] = []
        weights.visititems(lambda _, item: datasets.append(item) if isinstance(item, h5py.Dataset) else None)
        for dataset in datasets:
            declared = dataset.size * dataset.dtype.itemsize
            if dataset.id.get_storage_size() != declared:
                raise ModelError(f"cannot load {path} as a Keras model: its {WEIGHTS} dataset "
                                 f"{dataset.name[:80]!r} declares {declared:,} bytes but holds "
                                 f"{dataset.id.get_storage_size():,}; {REDO}")
