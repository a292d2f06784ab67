"""Photo folders (one folder per class) -> the images the model sees, through the model's `Preparation`.

Every photo goes through `fmnist.runtime.preparation.Preparation.prepare`, what `classify` and `live` call,
so training and evaluation see exactly what the runtime feeds the model. A preparation that segments (the
cut-out) is cached per photo, keyed by the file's sha256 and the kind's `cache_key` (kind, version, size): a
re-run reads the prepared arrays instead of redoing GrabCut. One that does not (the photo tier's centre crop
costs a decode and a resize) is not cached.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fmnist.core import atomic
from fmnist.core.bounded import checked_size, sha256_file
from fmnist.core.cache import cache_root
from fmnist.core.errors import DataError, FmnistError
from fmnist.runtime.image import IMAGE_EXTENSIONS, MAX_FILE_BYTES, ImageError, read_image
from fmnist.runtime.preparation import CUTOUT, Preparation

Progress = Callable[[int, int], None]  # (photos done, photos in all)


@dataclass(frozen=True)
class PhotoSet:
    root: Path
    folders: tuple[str, ...]  # class folder names, sorted
    images: np.ndarray  # (N, *preparation.image_shape) uint8: 28x28 cut-outs, or the photo tier's BGR squares
    folder_index: np.ndarray  # (N,) int, index into `folders`
    empty: np.ndarray  # (N,) bool: the preprocessing found nothing to classify
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unreadable photos and why
    cache_hits: int = 0
    digests: list[str] = field(default_factory=list)  # each photo's sha256 (its cache key and its label by eye)

    def __len__(self) -> int:
        return len(self.paths)


def cache_dir() -> Path:
    return cache_root() / "photos"


def _cache_file(folder: Path, digest: str, preparation: Preparation) -> Path:
    return folder / preparation.cache_key / digest[:2] / f"{digest}.npy"


def _digest(path: Path) -> str:
    """A photo's sha256, read a block at a time once its size is checked: a file over the limit an image may take
    is refused before a byte of it is read."""
    try:
        checked_size(path, MAX_FILE_BYTES, "an image may take", ImageError, "downscale it first")
        return sha256_file(path)
    except OSError as e:
        raise ImageError(f"{path}: cannot read ({e.strerror or e})") from e


Prepared = tuple[np.ndarray, bool, bool, str]  # (prepared image, empty, from cache, the file's sha256)


def _prepare(path: Path, cache: Path | None, preparation: Preparation) -> Prepared:
    """One photo, prepared, and its sha256; ImageError when it cannot be read."""
    digest = _digest(path)
    cached = _cache_file(cache, digest, preparation) if cache else None
    pixels = int(np.prod(preparation.image_shape))  # a cache row: the prepared image's pixels, then `empty`
    if cached and cached.is_file():
        try:  # mapped, not read: a damaged entry's header may declare any size
            row = np.load(cached, mmap_mode="r")
            if row.shape == (pixels + 1,) and row.dtype == np.uint8:
                return np.array(row[:pixels]).reshape(preparation.image_shape), bool(row[pixels]), True, digest
        except (OSError, ValueError):
            pass  # a damaged cache entry: redo it
    prepared = preparation.prepare(read_image(path, preparation.enough()))  # as classify reads it
    if cached:
        row = np.concatenate([prepared.image.reshape(-1), [np.uint8(prepared.empty)]]).astype(np.uint8)
        entry = io.BytesIO()
        np.save(entry, row)
        with contextlib.suppress(FmnistError, OSError):  # a read-only or full cache only costs time
            atomic.write_bytes(cached, entry.getvalue())  # a reader never sees half an entry
    return prepared.image, prepared.empty, False, digest


def list_photos(root: Path) -> dict[str, list[Path]]:
    """{class folder: its image files, sorted}; the folders are root's subfolders."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"photo folder {root} does not exist; pass a folder with one subfolder per class "
                        "(fmnist data fetch photos downloads one)")
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if files:
            out[folder.name] = files
    if not out:
        raise DataError(f"{root} has no class subfolders with photos ({', '.join(IMAGE_EXTENSIONS)}); "
                        "expected ROOT/<class>/<photo>.jpg")
    return out


def load_photos(root: Path, cache: Path | None = None, progress: Progress | None = None,
                workers: int | None = None, use_cache: bool = True, preparation: Preparation = CUTOUT) -> PhotoSet:
    """Read and prepare every photo under root/<class>/; unreadable ones are listed in `skipped`."""
    root = Path(root)
    listing = list_photos(root)
    folders = tuple(listing)
    jobs = [(i, path) for i, name in enumerate(folders) for path in listing[name]]
    cache = (cache or cache_dir()) if use_cache and preparation.caches else None  # worth keeping: GrabCut

    def one(job: tuple[int, Path]) -> tuple[int, Path, Prepared | str]:
        index, path = job
        try:
            return index, path, _prepare(path, cache, preparation)
        except ImageError as e:
            return index, path, str(e)

    images, index, empty, paths, skipped, hits, digests = [], [], [], [], [], 0, []
    # OpenCV releases the GIL in its heavy calls (decode, GrabCut), so threads use every core
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for done, (i, path, got) in enumerate(pool.map(one, jobs), 1):
            if isinstance(got, str):
                skipped.append((path, got))
            else:
                images.append(got[0])
                empty.append(got[1])
                hits += got[2]
                digests.append(got[3])
                index.append(i)
                paths.append(path)
            if progress:
                progress(done, len(jobs))
    stack = np.array(images, np.uint8).reshape(-1, *preparation.image_shape)
    return PhotoSet(root, folders, stack, np.array(index, np.int64),
                    np.array(empty, bool), paths, skipped, hits, digests)
