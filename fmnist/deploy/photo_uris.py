"""What `classify --ray` reads: the photos its INPUTS name, as paths on this machine or URIs of any filesystem
pyarrow reads (s3://, gs://, hdfs://; credentials and endpoint as pyarrow takes them, e.g. AWS_ENDPOINT_URL), and
one photo's bytes, read where it lies with read_image's limits (a regular file of at most MAX_FILE_BYTES).

Imported only with fmnist[ray] (pyarrow comes with Ray Data).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from pyarrow import fs

from fmnist.runtime.batch import Outcome, listed
from fmnist.runtime.image import IMAGE_EXTENSIONS, MAX_FILE_BYTES, Enough, ImageError, read_image, read_image_bytes
from fmnist.runtime.inputs import is_uri


@dataclass(frozen=True)
class Listed:
    """A photo an input names, or an input that could not be listed."""

    input: str  # as classify --json names it: the path as given (folders and globs expanded), or the URI
    location: str = ""  # where an actor reads it: the path made absolute (its process runs elsewhere), or the URI
    error: str = ""  # why it could not be listed


def listing(inputs: list[str]) -> Iterator[Listed]:
    """Each photo the inputs name, in order (folders and globs expanded as classify expands them), and each input
    that could not be listed."""
    for name in inputs:
        if is_uri(name):
            yield from _uri_photos(name)
            continue
        for item in listed([name]):
            if isinstance(item, Outcome):
                yield Listed(str(item.path), error=item.error or "")
            else:
                yield Listed(str(item), str(Path(item).absolute()))


def opened(uri: str) -> tuple[fs.FileSystem, str, str]:
    """A URI's filesystem, its path there, and what comes before that path in the URI ('s3://')."""
    uri = uri.rstrip("/")
    filesystem, path = fs.FileSystem.from_uri(uri)
    return filesystem, path, uri[: len(uri) - len(path)] if uri.endswith(path) else f"{urlsplit(uri).scheme}://"


def _uri_photos(uri: str) -> Iterator[Listed]:
    """A URI's photos: the object itself, or every image below it (sorted), or why it cannot be listed."""
    try:
        filesystem, path, prefix = opened(uri)
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.File:
            yield Listed(uri, uri)
            return
        if info.type != fs.FileType.Directory:
            yield Listed(uri, error=f"{uri}: no such file or folder")
            return
        found = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
    except (OSError, ValueError) as e:
        yield Listed(uri, error=f"{uri}: cannot list it ({e})")
        return
    for entry in sorted((e for e in found if e.type == fs.FileType.File), key=lambda e: e.path):
        below = entry.path[len(path):].split("/")  # hidden files and folders below the prefix are left out, as a
        if entry.base_name.lower().endswith(IMAGE_EXTENSIONS) and not any(p.startswith(".") for p in below):  # walk
            yield Listed(prefix + entry.path, prefix + entry.path)


class Reader:
    """One photo at a time, each filesystem opened once (an S3 client looks its region up)."""

    def __init__(self) -> None:
        self.filesystems: dict[tuple[str, str], tuple[fs.FileSystem, int]] = {}

    def read(self, name: str, enough: Enough | None) -> np.ndarray:
        """The photo at a path or URI, decoded as read_image decodes it; ImageError when it cannot be."""
        if not is_uri(name):
            return read_image(Path(name), enough)
        return read_image_bytes(self._bytes(name), name, enough)

    def _bytes(self, uri: str) -> bytes:
        parts = urlsplit(uri)
        try:
            if (parts.scheme, parts.netloc) not in self.filesystems:
                filesystem, path, prefix = opened(uri)
                self.filesystems[parts.scheme, parts.netloc] = filesystem, len(prefix)
            filesystem, skip = self.filesystems[parts.scheme, parts.netloc]
            path = uri[skip:]
            info = filesystem.get_file_info(path)
            if info.type != fs.FileType.File:
                raise ImageError(f"{uri}: cannot read (no such file)")
            if info.size > MAX_FILE_BYTES:
                raise ImageError(f"{uri}: {info.size:,} bytes, over the {MAX_FILE_BYTES:,} bytes an image may take; "
                                 "downscale it first")
            with filesystem.open_input_stream(path) as stream:
                return stream.read(MAX_FILE_BYTES)
        except (OSError, ValueError) as e:
            raise ImageError(f"{uri}: cannot read ({e})") from e
