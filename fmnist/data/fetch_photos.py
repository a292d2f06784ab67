"""`fmnist data fetch photos`: download the clothing photo set (CC0) and move it into place.

The archive is GitHub's zip of alexeygrigorev/clothing-dataset-small: one top folder holding train/,
validation/ and test/, each with the same ten class folders of JPEGs. It is checked (zip CRCs, layout,
photo counts per split) before anything is extracted, extracted beside the destination, and only then
renamed into place, so a failed or partial download never looks like a photo set.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath

from fmnist.core.atomic import swap_folder
from fmnist.core.errors import DataError
from fmnist.data.fashion import keras_cache_dir
from fmnist.data.fetch import Progress, download

PHOTOS_URL = "https://github.com/alexeygrigorev/clothing-dataset-small/archive/refs/heads/master.zip"
PHOTO_COUNTS = {"train": 3068, "validation": 341, "test": 372}  # photos per split in the official archive
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def photos_home() -> Path:
    """Where `fmnist data fetch photos` puts the clothing photo set: train/, validation/, test/."""
    return keras_cache_dir().parent / "clothing-dataset-small"


def _photo_members(archive: zipfile.ZipFile, splits: dict[str, int]) -> tuple[str, dict[str, set[str]], Counter]:
    """(top folder, {split: class folders}, photos per split) of the archive's photos."""
    classes: dict[str, set[str]] = {split: set() for split in splits}
    counts: Counter = Counter()
    tops = set()
    for name in archive.namelist():
        parts = PurePosixPath(name).parts
        if len(parts) == 4 and parts[1] in splits and parts[3].lower().endswith(PHOTO_SUFFIXES):
            tops.add(parts[0])
            classes[parts[1]].add(parts[2])
            counts[parts[1]] += 1
    if len(tops) != 1:
        raise DataError(f"the photo archive has {len(tops)} top folders holding {'/'.join(splits)} photos, "
                        "expected one (TOP/<split>/<class>/<photo>.jpg)")
    return tops.pop(), classes, counts


def check_archive(path: Path, expected: dict[str, int]) -> str:
    """Check a downloaded archive; return its top folder. DataError names what is wrong."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise DataError(f"{path}: {bad} is corrupt in the photo archive (CRC mismatch); download it again")
            top, classes, counts = _photo_members(archive, expected)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise DataError(f"{path} is not a complete zip archive ({e}): the download was truncated or is not "
                        "the photo set; run fmnist data fetch photos again") from e
    wrong = {s: counts[s] for s, n in expected.items() if counts[s] != n}
    if wrong:
        found = ", ".join(f"{s} {counts[s]} (expected {expected[s]})" for s in wrong)
        raise DataError(f"the photo archive holds {found} photos: not the expected clothing photo set; pass "
                        "--photos-url for another copy only if you trust it")
    first = classes[next(iter(expected))]
    if any(folders != first for folders in classes.values()):
        raise DataError(f"the photo archive's splits have different class folders: {classes}")
    return top


def fetch_photos(dest: Path | None = None, url: str | None = None, expected: dict[str, int] | None = None,
                 progress: Progress | None = None, timeout: float = 60.0) -> Path:
    """Download, check and place the photo set at `dest` (default: next to the Keras dataset cache)."""
    dest = Path(dest) if dest else photos_home()
    expected = expected or PHOTO_COUNTS
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create {dest.parent}: {e.strerror or e}; pass a writable --dest") from e
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp:
        part = Path(tmp) / "photos.zip"
        download(url or PHOTOS_URL, part, "clothing photos", timeout, progress,
                 mirror="pass --photos-url for a mirror")
        top = check_archive(part, expected)
        staging = Path(tmp) / "extracted"
        with zipfile.ZipFile(part) as archive:
            members = [m for m in archive.namelist() if PurePosixPath(m).parts[:1] == (top,)]
            archive.extractall(staging, members)  # zipfile drops absolute paths and '..'
        swap_folder(staging / top, dest, Path(tmp) / "previous")  # the previous copy stays whole until then
    return dest
