"""Helpers that write IDX files for tests: real copies, deliberately broken ones, and synthetic full-size sets."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np

from fmnist.data import fashion


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Serialise a uint8 array as IDX; `magic` overrides the header's magic number."""
    magic = magic if magic is not None else 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, gz: bool = True) -> Path:
    raw = idx_bytes(array, magic)
    path.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
    return path


def copy_real(dest: Path, source: Path | None = None) -> Path:
    """A copy of the real dataset's four files in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    source = source or fashion.locate().path
    for name in fashion.FILES:
        shutil.copy(fashion.find_file(source, name), dest / f"{name}.gz")
    return dest


def synthetic_set(dest: Path) -> dict[str, bytes]:
    """Four valid, full-count IDX files (60000/10000, 28x28, labels 0..9) with cheap content; name -> gz bytes."""
    files = {}
    for images_name, labels_name, count in fashion.SPLITS.values():
        labels = (np.arange(count) % 10).astype(np.uint8)
        images = np.zeros((count, 28, 28), np.uint8)
        images[:, 10:18, 10:18] = (labels * 25)[:, None, None]
        for name, array in ((images_name, images), (labels_name, labels)):
            files[f"{name}.gz"] = gzip.compress(idx_bytes(array), compresslevel=1)
    dest.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        (dest / name).write_bytes(blob)
    return files
