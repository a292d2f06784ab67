"""Find, load and validate the four Fashion-MNIST IDX files (numpy and the standard library only).

Search order: --data-dir / $FMNIST_DATA, then the Debian package's folder, then the Keras cache.
A file may be gzipped (`*.gz`, as shipped) or plain.
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.core.bounded import megabytes, read_bounded
from fmnist.core.errors import DataError
from fmnist.core.meta import IMAGE_SIZE, NUM_CLASSES

ENV_VAR = "FMNIST_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

# split -> (images file, labels file, expected count)
SPLITS: dict[str, tuple[str, str, int]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}
FILES: tuple[str, ...] = tuple(name for images, labels, _ in SPLITS.values() for name in (images, labels))

MAX_IDX_BYTES = 64_000_000  # an IDX file, plain or gunzipped: the largest, train-images, is 47,040,016 bytes
IMAGES_MAGIC = 0x0803  # uint8, 3 dimensions
LABELS_MAGIC = 0x0801  # uint8, 1 dimension
REMEDY = (
    "reinstall it (sudo apt-get install --reinstall dataset-fashion-mnist) "
    "or download a fresh copy (fmnist data fetch)"
)


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 28, 28) uint8, the object bright on black
    labels: np.ndarray  # (N,) uint8 in 0..9


@dataclass(frozen=True)
class Location:
    path: Path
    source: str  # how it was found, e.g. "Debian package dataset-fashion-mnist"


def keras_cache_dir() -> Path:
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return home / "datasets" / "fashion-mnist"


def find_file(folder: Path, name: str) -> Path | None:
    """The gzipped or plain copy of an IDX file in `folder`, if either exists."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def missing_files(folder: Path) -> list[str]:
    return [name for name in FILES if find_file(folder, name) is None]


def locate(data_dir: Path | None = None) -> Location:
    """Where the dataset is. An explicit folder must hold all four files; the defaults are searched in order."""
    explicit = (data_dir, "--data-dir") if data_dir else (os.environ.get(ENV_VAR), f"${ENV_VAR}")
    if explicit[0]:
        folder, source = Path(explicit[0]).expanduser(), explicit[1]
        if not folder.is_dir():
            raise DataError(f"data folder {folder} (from {source}) does not exist; create it with: "
                            f"fmnist data fetch --dest {folder}")
        missing = missing_files(folder)
        if missing:
            raise DataError(f"data folder {folder} (from {source}) lacks {', '.join(missing)}; "
                            f"download them with: fmnist data fetch --dest {folder}")
        return Location(folder, source)
    defaults = ((DEBIAN_DIR, "Debian package dataset-fashion-mnist"), (keras_cache_dir(), "Keras cache"))
    for folder, source in defaults:
        if not missing_files(folder):
            return Location(folder, source)
    raise DataError(
        f"Fashion-MNIST not found in {DEBIAN_DIR} or {keras_cache_dir()}; install it with "
        "`sudo apt-get install dataset-fashion-mnist`, download it with `fmnist data fetch`, "
        f"or point --data-dir (or ${ENV_VAR}) at a folder holding the four IDX files"
    )


def _read_raw(path: Path) -> bytes:
    """An IDX file's bytes as stored (gzipped or plain), at most MAX_IDX_BYTES: its size checked before it is read."""
    try:
        return read_bounded(path, MAX_IDX_BYTES, "a Fashion-MNIST file may take", DataError, REMEDY)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}; check its permissions, or {REMEDY}") from e


def _inflated(path: Path, raw: bytes) -> bytes:
    """`raw` gunzipped if need be, at most MAX_IDX_BYTES: its content checked before it is all inflated (a .gz of a
    few MB can inflate to gigabytes)."""
    if raw[:2] != b"\x1f\x8b":  # not gzipped: a plain IDX file
        return raw
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the gzip format
    try:
        data = inflate.decompress(raw, MAX_IDX_BYTES + 1)
    except zlib.error as e:
        raise DataError(f"{path} is truncated or not a valid gzip file ({e}); {REMEDY}") from e
    if len(data) > MAX_IDX_BYTES:
        raise DataError(f"{path} inflates to over {megabytes(MAX_IDX_BYTES)}, more than a Fashion-MNIST file may "
                        f"take; {REMEDY}")
    if not inflate.eof:
        raise DataError(f"{path} is truncated or not a valid gzip file (it ends before its gzip stream); {REMEDY}")
    return data


def content_sha256(path: Path) -> str:
    """The sha256 of an IDX file's content, gunzipped if need be: the same for the official files and the Debian
    package's recompressed copies. DataError if it cannot be read within MAX_IDX_BYTES."""
    return hashlib.sha256(_inflated(path, _read_raw(path))).hexdigest()


def read_idx(path: Path, magic: int, count: int | None = None) -> np.ndarray:
    """Parse one IDX file of uint8 data, checking its magic number, dimensions, size and count. The file is read
    every time; the same bytes (by sha256) are inflated and parsed once a process (0.37 s for both splits, 0.04 s
    again here): a process that runs several commands (a notebook, the tests) or asks for a split again (export's
    gate, then its pictures) shares the read-only array."""
    raw = _read_raw(path)
    key = (str(path), hashlib.sha256(raw).digest(), magic, count)
    if key not in _PARSED:
        _PARSED[key] = _parsed(path, raw, magic, count)
        while len(_PARSED) > len(FILES):  # the oldest first: a dict keeps its order
            del _PARSED[next(iter(_PARSED))]
    return _PARSED[key]


_PARSED: dict[tuple[str, bytes, int, int | None], np.ndarray] = {}  # read_idx's, by path, sha256, magic and count


def _parsed(path: Path, raw: bytes, magic: int, count: int | None) -> np.ndarray:
    data = _inflated(path, raw)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is too short to be an IDX file ({len(data)} bytes); {REMEDY}")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"{path} has magic number {found:#010x}, expected {magic:#010x} "
                        f"(is it the right file?); {REMEDY}")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected_bytes = math.prod(dims)  # Python ints: np.prod's int64 wraps (60000 x 2**31 x 2**31 "needs 0")
    if len(data) - header != expected_bytes:
        raise DataError(f"{path} holds {len(data) - header} bytes of data but its header {dims} "
                        f"needs {expected_bytes}; {REMEDY}")
    if count is not None and dims[0] != count:
        raise DataError(f"{path} holds {dims[0]} items, expected {count}; {REMEDY}")
    if ndim == 3 and dims[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"{path} holds {dims[1]}x{dims[2]} images, expected 28x28; {REMEDY}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_split(split: str, data_dir: Path | None = None) -> Split:
    """Load "train" or "test" as uint8 arrays, fully validated."""
    images_name, labels_name, count = SPLITS[split]
    folder = locate(data_dir).path
    images = read_idx(find_file(folder, images_name), IMAGES_MAGIC, count)  # type: ignore[arg-type]
    labels_path = find_file(folder, labels_name)
    labels = read_idx(labels_path, LABELS_MAGIC, count)  # type: ignore[arg-type]
    if labels.max(initial=0) >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise DataError(f"{labels_path} has label {int(labels[bad])} at index {bad}, "
                        f"outside 0..{NUM_CLASSES - 1}; {REMEDY}")
    return Split(images=images, labels=labels)


def load(data_dir: Path | None = None) -> tuple[Split, Split]:
    return load_split("train", data_dir), load_split("test", data_dir)


def class_counts(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=NUM_CLASSES)
