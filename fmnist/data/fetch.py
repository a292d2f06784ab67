"""`fmnist data fetch`: download the four official IDX files, check them, and move them into place.

Each file streams to a `.part` file, is checked (length, MD5, IDX structure and count), and only then
renamed to its final name, so an interrupted or bad download never looks like data.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from fmnist.core.errors import DataError
from fmnist.data.fashion import IMAGES_MAGIC, LABELS_MAGIC, SPLITS, keras_cache_dir, read_idx

BASE_URL_VAR = "FMNIST_BASE_URL"
OFFICIAL_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
OFFICIAL_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
CHUNK = 1 << 16

# (file name, bytes so far, total bytes or None when the server does not say)
Progress = Callable[[str, int, int | None], None]


def _targets() -> list[tuple[str, int, int]]:
    """(file name, IDX magic, expected count) for the four files."""
    out = []
    for images, labels, count in SPLITS.values():
        out += [(f"{images}.gz", IMAGES_MAGIC, count), (f"{labels}.gz", LABELS_MAGIC, count)]
    return out


FASHION_MIRROR = "pass --base-url for a mirror, or install the Debian package dataset-fashion-mnist"


def download(url: str, part: Path, name: str, timeout: float, progress: Progress | None,
             mirror: str = FASHION_MIRROR) -> str:
    """Stream `url` into `part`; return its MD5. `mirror`: what the error says to try instead."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, part.open("wb") as out:
            total = response.headers.get("Content-Length")
            total = int(total) if total else None
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(name, done, total)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        part.unlink(missing_ok=True)
        reason = getattr(e, "reason", e)
        raise DataError(f"could not download {url}: {reason}; check the network, or {mirror}") from e
    if total is not None and done != total:
        part.unlink(missing_ok=True)
        raise DataError(f"download of {url} stopped at {done} of {total} bytes; run fmnist data fetch again")
    return digest.hexdigest()


def fetch(
    dest: Path | None = None,
    base_url: str | None = None,
    md5: dict[str, str] | None = OFFICIAL_MD5,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download the dataset into `dest` (default: the Keras cache, which `fmnist.data.fashion` searches).

    `md5=None` skips the checksum (for mirrors that recompress); the IDX structure is always checked.
    """
    dest = Path(dest) if dest else keras_cache_dir()
    base_url = base_url or os.environ.get(BASE_URL_VAR) or OFFICIAL_URL
    if not base_url.endswith("/"):
        base_url += "/"
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create {dest}: {e.strerror or e}; pass a writable --dest") from e
    for name, magic, count in _targets():
        url, final, part = base_url + name, dest / name, dest / f"{name}.part"
        got = download(url, part, name, timeout, progress)
        if md5 is not None and got != md5[name]:
            part.unlink(missing_ok=True)
            raise DataError(f"{url} has MD5 {got}, expected {md5[name]}: the download is corrupt or not "
                            "the official file; try again, or use --skip-md5 for a trusted mirror")
        try:
            read_idx(part, magic, count)
        except DataError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, final)
    return dest
