"""Photo folders (one folder per class) -> the images the model sees, through the model's `Preparation`.

Every photo goes through `fmnist.runtime.preparation.Preparation.prepare`, what `classify` and `live` call,
so training and evaluation see exactly what the runtime feeds the model. A preparation that segments (the
cut-out) is cached per photo, keyed by the file's sha256 and the kind's `cache_key` (kind, version, size): a
re-run reads the prepared arrays instead of redoing GrabCut. One that does not (the photo tier's centre crop
costs a decode and a resize) is not cached.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core import atomic
from fmnist.core.bounded import checked_size, opened_regular, sha256_file
from fmnist.core.cache import cache_root
from fmnist.core.errors import DataError, FmnistError
from fmnist.runtime.image import IMAGE_EXTENSIONS, MAX_FILE_BYTES, ImageError, is_large, read_image
from fmnist.runtime.inputs import Found, Unreadable, expand
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


@dataclass(frozen=True)
class LargeTurns:
    """One lock for the photos whose header declares over LARGE_BYTES decoded (fmnist.runtime.image.is_large, as
    serve decides): they are decoded one at a time, so the memory of several threads at once is bounded by one large
    picture, not by one per core. Small photos never wait."""

    lock: threading.Lock = field(default_factory=threading.Lock)

    def turn(self, path: Path) -> contextlib.AbstractContextManager[Any]:
        """The lock for a large photo (its header alone is read, a few bytes), else nothing."""
        try:
            with open(path, "rb") as f:  # a regular file: _digest has checked it
                large = is_large(f)
        except OSError:  # read_image says why
            large = False
        return self.lock if large else contextlib.nullcontext()


@functools.cache
def _npy_header(pixels: int) -> bytes:
    """The .npy header np.save writes for a cache row (`pixels` bytes, then `empty`). An entry is read by comparing
    its bytes with it, not with np.load, whose header parse (ast) raises a spurious SystemError in Python 3.11.7 and
    earlier when threads parse at once (CPython gh-106905)."""
    entry = io.BytesIO()
    np.save(entry, np.zeros(pixels + 1, np.uint8))
    return entry.getvalue()[: -(pixels + 1)]


def _cached_row(cached: Path, pixels: int) -> np.ndarray | None:
    """A cache entry's row, or None when there is none or it is damaged (then it is made again)."""
    header = _npy_header(pixels)
    try:
        with opened_regular(cached) as found:  # not a FIFO put there, nor a folder
            if found is None:
                return None
            data = os.read(found[0], len(header) + pixels + 2)  # one byte more than an entry: a longer one is damaged
    except OSError:
        return None
    if len(data) != len(header) + pixels + 1 or not data.startswith(header):
        return None
    return np.frombuffer(data, np.uint8, offset=len(header))


def _prepare(path: Path, cache: Path | None, preparation: Preparation, large: LargeTurns) -> Prepared:
    """One photo, prepared, and its sha256; ImageError when it cannot be read. A large photo takes its turn (`large`)
    to be decoded and prepared."""
    digest = _digest(path)
    cached = _cache_file(cache, digest, preparation) if cache else None
    pixels = int(np.prod(preparation.image_shape))  # a cache row: the prepared image's pixels, then `empty`
    row = _cached_row(cached, pixels) if cached else None
    if row is not None:
        return np.array(row[:pixels]).reshape(preparation.image_shape), bool(row[pixels]), True, digest
    with large.turn(path):
        prepared = preparation.prepare(read_image(path, preparation.enough()))  # as classify reads it
    if cached:
        row = np.concatenate([prepared.image.reshape(-1), [np.uint8(prepared.empty)]]).astype(np.uint8)
        with contextlib.suppress(FmnistError, OSError):  # a read-only or full cache only costs time
            atomic.write_bytes(cached, _npy_header(pixels) + row.tobytes())  # a reader never sees half an entry
    return prepared.image, prepared.empty, False, digest


Skipped = list[tuple[Path, str]]  # (a photo or a folder left out, and why, in one line that names it)


@dataclass(frozen=True)
class Listing:
    """A photo folder's class folders and their photos, and what could not be listed."""

    photos: dict[str, list[Path]]  # {class folder: the image-named files below it, sorted}
    unreadable: Skipped  # folders that could not be listed (no permission, a name too long, a symlink loop)


def class_folders(root: Path) -> tuple[list[Path], Skipped]:
    """root's subfolders (symlinked ones too, hidden ones not), sorted, and its entries that could not be told;
    DataError (exit 3) when root itself is not a folder that can be listed."""
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"photo folder {root} does not exist; pass a folder with one subfolder per class "
                        "(fmnist data fetch photos downloads one)") from None
    except OSError as e:
        raise DataError(f"cannot read the photo folder {root} ({e.strerror or e})") from None
    folders: list[Path] = []
    unreadable: Skipped = []
    for entry in entries:
        if entry.name.startswith("."):  # a file manager's .thumbnails, .ipynb_checkpoints: no class (nor a label)
            continue
        try:
            if entry.is_dir():
                folders.append(Path(entry.path))
        except OSError as e:  # a symlink loop, a target without search permission
            unreadable.append(_unreadable(Path(entry.path), e.strerror or str(e)))
    return folders, unreadable


def _unreadable(folder: Path, reason: str) -> tuple[Path, str]:
    """A folder left out, and why: the reason before the path, which may be longer than a warning line shows."""
    return folder, f"cannot read a folder ({reason}), so nothing in it was read: {folder}"


def _found(folder: Path) -> list[Found]:
    """The image-named files below one class folder and the folders below it that could not be listed; hidden
    names left out (the temp file of a collect a kill cut short, a .thumbnails folder)."""
    try:
        return list(expand([str(folder)]))
    except OSError as e:  # the class folder gone or changed since it was listed
        return [Unreadable(folder, e.strerror or str(e))]


def _check_distinct(root: Path, folders: list[Path]) -> None:
    """No class folder is, holds or lies in another (a link `b2 -> b`, `b3 -> b/more`) or holds the photo folder
    (`all -> .`): the same photos would be two classes. DataError, naming the link."""
    top = os.path.realpath(root)
    real = {folder: os.path.realpath(folder) for folder in folders}
    for folder, path in real.items():
        if Path(top).is_relative_to(path):
            raise DataError(f"class folder {folder} is a link to {root} itself: the same photos would be two "
                            "classes; remove the link")
        for other, other_path in real.items():
            if other != folder and Path(path).is_relative_to(other_path) and folder.is_symlink():
                raise DataError(f"class folder {folder} is a link into the class folder {other}: the same photos "
                                "would be two classes; remove the link")


def walk_photos(root: Path) -> Listing:
    """Each class folder's image-named files, found as `classify` finds a folder's (fmnist.runtime.inputs: symlinked
    folders not entered, each real file once), whatever kind of file they are: a pipe, a device or a symlink loop
    is refused when it is read, as classify refuses it, never dropped without a word."""
    root = Path(root)
    folders, unreadable = class_folders(root)
    _check_distinct(root, folders)
    photos: dict[str, list[Path]] = {}
    for folder in folders:
        found = _found(folder)
        unreadable += [_unreadable(f.path, f.reason) for f in found if isinstance(f, Unreadable)]
        files = sorted(f for f in found if isinstance(f, Path))
        if files:
            photos[folder.name] = files
    if not photos:
        why = f"; {len(unreadable)} could not be read, {unreadable[0][1]:.300}" if unreadable else ""
        raise DataError(f"{root} has no class subfolders with photos ({', '.join(IMAGE_EXTENSIONS)}); "
                        f"expected ROOT/<class>/<photo>.jpg{why}")
    return Listing(photos, unreadable)


def list_photos(root: Path) -> dict[str, list[Path]]:
    """{class folder: its image-named files, sorted} (walk_photos); the folders are root's subfolders."""
    return walk_photos(root).photos


def load_photos(root: Path, cache: Path | None = None, progress: Progress | None = None,
                workers: int | None = None, use_cache: bool = True, preparation: Preparation = CUTOUT) -> PhotoSet:
    """Read and prepare every photo under root/<class>/; unreadable ones, and folders that cannot be listed, are
    listed in `skipped`. Photos that decode to over LARGE_BYTES are decoded one at a time (LargeTurns)."""
    root = Path(root)
    listing = walk_photos(root)
    folders = tuple(listing.photos)
    jobs = [(i, path) for i, name in enumerate(folders) for path in listing.photos[name]]
    cache = (cache or cache_dir()) if use_cache and preparation.caches else None  # worth keeping: GrabCut
    large = LargeTurns()

    def one(job: tuple[int, Path]) -> tuple[int, Path, Prepared | str]:
        index, path = job
        try:
            return index, path, _prepare(path, cache, preparation, large)
        except ImageError as e:
            return index, path, str(e)

    images, index, empty, paths, skipped, hits, digests = [], [], [], [], list(listing.unreadable), 0, []
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
