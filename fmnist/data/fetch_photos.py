"""`fmnist data fetch photos`: download the clothing photo set (CC0) and move it into place.

The archive is GitHub's zip of alexeygrigorev/clothing-dataset-small: one top folder holding train/,
validation/ and test/, each with the same ten class folders of JPEGs. It is checked (its size, members and
methods as every zip fmnist reads, zip CRCs, layout, photo counts per split) before anything is extracted, its
photos alone are extracted beside the destination, and only then renamed into place, so a failed or partial
download never looks like a photo set. The set records its files (PHOTOS_RECORD): an earlier set is replaced only
while it holds just those, unchanged; a folder of yours at the destination is never touched.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath

from fmnist import __version__
from fmnist.core.atomic import swap_folder
from fmnist.core.errors import DataError, ModelError, UsageError, printable
from fmnist.core.signals import whole
from fmnist.core.tree_record import record_tree, refusal
from fmnist.core.zip_archive import check_zip
from fmnist.data.fashion import keras_cache_dir
from fmnist.data.fetch import Progress, check_url, download

PHOTOS_URL = "https://github.com/alexeygrigorev/clothing-dataset-small/archive/refs/heads/master.zip"
PHOTO_COUNTS = {"train": 3068, "validation": 341, "test": 372}  # photos per split in the official archive
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
PHOTOS_RECORD = ".fmnist-photos"  # in a fetched set: each file fetch wrote there, with its sha256
ARCHIVE_LIMIT = 400_000_000  # bytes, on the wire and inflated: the official archive is about 100 MB
ARCHIVE_MEMBERS = 10_000  # the official archive holds 3,781 photos and their folders


def photos_home() -> Path:
    """Where `fmnist data fetch photos` puts the clothing photo set: train/, validation/, test/."""
    return keras_cache_dir().parent / "clothing-dataset-small"


def _photo_members(archive: zipfile.ZipFile, splits: dict[str, int]) -> tuple[str, dict[str, set[str]], Counter,
                                                                            list[str]]:
    """(top folder, {split: class folders}, photos per split, the photos' member names) of the archive."""
    classes: dict[str, set[str]] = {split: set() for split in splits}
    counts: Counter = Counter()
    tops, photos = set(), []
    for entry in archive.infolist():
        name, parts = entry.filename, PurePosixPath(entry.filename).parts
        if entry.is_dir() or len(parts) != 4:
            continue
        _refuse_odd(name, parts)
        if parts[1] in splits and parts[3].lower().endswith(PHOTO_SUFFIXES):
            tops.add(parts[0])
            classes[parts[1]].add(parts[2])
            counts[parts[1]] += 1
            photos.append(name)
    twice = next((name for name, n in Counter(photos).items() if n > 1), None)
    if twice is not None:
        raise DataError(f"the photo archive holds {printable(twice, 120)} twice: not the clothing photo set")
    if len(tops) != 1:
        raise DataError(f"the photo archive has {len(tops)} top folders holding {'/'.join(splits)} photos, "
                        "expected one (TOP/<split>/<class>/<photo>.jpg)")
    return tops.pop(), classes, counts, photos


def _refuse_odd(name: str, parts: tuple[str, ...]) -> None:
    """DataError for a member that zipfile would write elsewhere than its name says: an absolute path, '.' or '..',
    an empty part, a backslash or a NUL."""
    if name.startswith("/") or any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
        raise DataError(f"the photo archive holds a member named {printable(name, 120)}: not a plain "
                        "TOP/<split>/<class>/<photo> path; not the clothing photo set")


def check_archive(path: Path, expected: dict[str, int]) -> list[str]:
    """Check a downloaded archive; return its photos' member names. DataError names what is wrong."""
    try:
        check_zip(path, "the clothing photo archive", ARCHIVE_LIMIT, ARCHIVE_MEMBERS,
                  (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED), "pass --photos-url for another copy only if you trust it")
    except ModelError as e:  # the zip bounds every reader shares; here it is data, not a model
        raise DataError(str(e)) from e
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise DataError(f"{path}: {bad} is corrupt in the photo archive (CRC mismatch); download it again")
            _, classes, counts, photos = _photo_members(archive, expected)
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
    return photos


# why an earlier --dest is kept (fmnist.core.tree_record's reasons), and the fix
_NOT_FETCHED = (f"exists and is not a photo set fmnist fetched (no {PHOTOS_RECORD} in it); nothing was touched. Move "
                "it away, or choose another --dest")
_KEPT = {"not made": _NOT_FETCHED, "no list": _NOT_FETCHED,
         "changed": "is an earlier photo set holding {detail}; nothing was touched. Move those out of it, or choose "
                    "another --dest",
         "unreadable": "cannot be read ({detail}); nothing was touched. Choose another --dest"}


def _refuse_unless_replaceable(found: Path, dest: Path) -> None:
    """`found` (the destination, or the earlier one once moved aside) is replaced only if it is a photo set an
    earlier fetch wrote, holding just its files, unchanged."""
    why = refusal(found, PHOTOS_RECORD, "fmnist data fetch photos")
    if why:
        raise UsageError(f"--dest {printable(dest, 200)} " + _KEPT[why.reason].format(detail=why.detail))


def fetch_photos(dest: Path | None = None, url: str | None = None, expected: dict[str, int] | None = None,
                 progress: Progress | None = None, timeout: float = 60.0) -> Path:
    """Download, check and place the photo set at `dest` (default: next to the Keras dataset cache)."""
    dest = Path(dest) if dest else photos_home()
    url, expected = url or PHOTOS_URL, expected or PHOTO_COUNTS
    check_url(url, "--photos-url")
    if dest.name in ("", ".", ".."):
        raise UsageError(f"--dest {printable(dest, 200)} names no folder of its own; give the photos a new folder, "
                         "e.g. --dest ~/data/clothing-photos")
    if os.path.lexists(dest):
        _refuse_unless_replaceable(dest, dest)  # before the download; checked again as it is swapped
    tmp = _work_folder(dest)
    try:
        part = tmp / "photos.zip"
        download(url, part, "the clothing photo archive", timeout, progress, ARCHIVE_LIMIT,
                 mirror="pass --photos-url for a mirror")
        try:
            photos = check_archive(part, expected)
        except DataError as e:  # its message names the temp file: name the URL instead
            raise DataError(str(e).replace(str(part), url)) from e
        ready = _extracted(part, photos, tmp / "extracted")
        with whole():  # the swap and the clean-up, whole: a stop then takes effect with the set in place
            swap_folder(ready, dest, tmp / "previous",  # the previous copy stays whole until then
                        check=lambda earlier: _refuse_unless_replaceable(earlier, dest))
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _work_folder(dest: Path) -> Path:
    """A new private folder beside `dest` to download and extract in (UsageError if none can be made there)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    except OSError as e:
        raise UsageError(f"--dest {printable(dest, 200)}: cannot work beside it ({e.strerror or e}); nothing was "
                         "written. Choose another --dest") from e


def _extracted(part: Path, photos: list[str], staging: Path) -> Path:
    """The archive's `photos` extracted under `staging`, recorded (PHOTOS_RECORD); their top folder."""
    try:
        with zipfile.ZipFile(part) as archive:
            archive.extractall(staging, photos)  # zipfile drops absolute paths and '..'
    except OSError as e:
        fix = "free some space, or pass another --dest" if e.errno == errno.ENOSPC else "pass another --dest"
        raise DataError(f"cannot extract the photos beside {staging.parent.parent}: {e.strerror or e}; {fix}") from e
    (top,) = list(staging.iterdir())
    record_tree(top, PHOTOS_RECORD, f"fmnist {__version__} data fetch photos")
    return top
