"""Any image a user or a camera hands us -> a BGR uint8 array: decoding (EXIF rotation, alpha, 16-bit; pixel and
byte limits from the header before anything is allocated), conversion and shrinking, and `Prepared`, what every
preprocessing kind (fmnist.runtime.preparation) returns."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from fmnist.core.bounded import checked_size
from fmnist.core.errors import FmnistError
from fmnist.runtime.image_header import Header, HeaderError, read_header

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
MAX_PIXELS = 100_000_000  # refuse to decode anything larger (a 20000x20000 image is 400 MP, 1.2 GB decoded)
# and anything that decodes to more bytes: a 100 MP 8-bit RGBA photo, so the pixel limit alone bounds every 8-bit
# picture and a 16-bit or float one is refused sooner. OpenCV may hold two decoded copies at once (imdecode's copy
# into numpy, an EXIF rotation), so `classify` stays under 1 GB: 550 MB for that photo, 750 MB for a 100 MP JPEG.
# The decoder's own buffers count too (Header.work_bytes: a TIFF's tiles or strips, a progressive JPEG's
# coefficients): a 16x16 TIFF of one 16000x16000 tile took 1.16 GB, a 100 MP progressive CMYK JPEG 1.23 GB.
MAX_DECODED_BYTES = 4 * MAX_PIXELS
MAX_FILE_BYTES = 256_000_000  # refuse to read a file larger than this (a 100 MP photo is a few tens of MB)
LARGE_BYTES = 64_000_000  # decoded (with the decoder's buffers): a 20 MP photo; where several images decode at once
# (serve, evaluate --photos), larger ones take turns, so memory is bounded by one large picture, not one per thread
ROTATED = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH  # EXIF orientation applied, depth kept, alpha dropped
# libjpeg's own scaled decodes (a JPEG has no alpha; EXIF orientation is applied as for ROTATED): 1/2, 1/4 and 1/8 of
# each side, decoded from fewer DCT coefficients, at a fraction of a full decode's time; largest first
REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
# (short side, long side) -> whether a picture that size still gives a preprocessing kind its whole input
# (fmnist.runtime.kind.Preparation.covered_by); the sides are before any EXIF rotation, so a rule must not tell
# width from height
Enough = Callable[[int, int], bool]


class ImageError(FmnistError):
    """An input that is not a usable image (missing, empty, not an image, truncated)."""


class ImageTooLarge(ImageError):
    """An image over the pixel or decoded-byte limits (an HTTP upload's 413)."""


@dataclass(frozen=True)
class Prepared:
    image: np.ndarray  # what the model sees: (28, 28) uint8, the object bright on black (fmnist.runtime.crop: BGR)
    low_contrast: bool  # the object barely differs from its background (e.g. white on white)
    empty: bool  # nothing stands out of the background (a speck at most): no object to classify
    box: tuple[int, int, int, int]  # (x, y, w, h) of the object in the input image's pixels


def is_large(f: BinaryIO) -> bool:
    """Does the image in `f` declare over LARGE_BYTES decoded? Its header alone is read (a few bytes); what is no
    image is not large: its reader says why it cannot be read."""
    try:
        return read_header(f).peak_bytes > LARGE_BYTES
    except HeaderError:
        return False


def read_image(path: Path, enough: Enough | None = None) -> np.ndarray:
    """Decode a file as OpenCV does, keeping alpha and 16-bit depth, with EXIF orientation applied. Its header is
    read first (fmnist.runtime.image_header): a picture over MAX_PIXELS or MAX_DECODED_BYTES never allocates.
    With `enough`, an 8-bit JPEG is decoded once at the smallest of libjpeg's scales (1/8, 1/4, 1/2) whose picture
    is still enough (`reduction`); anything else at full size."""
    path = Path(path)
    with _opened(path) as f:
        return _read(f, path, enough)


def read_image_bytes(data: bytes, name: str, enough: Enough | None = None) -> np.ndarray:
    """read_image for an image already in memory (an HTTP upload), with the same checks; `name` starts every error
    message. Over MAX_PIXELS or MAX_DECODED_BYTES raises ImageTooLarge, before the picture is allocated."""
    if not data:
        raise ImageError(f"{name}: empty file")
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLarge(f"{name}: {len(data):,} bytes, over the {MAX_FILE_BYTES:,} bytes an image may take; "
                            "downscale it first")
    with _as_file(data) as f:
        return _read(f, name, enough)


@contextmanager
def _as_file(data: bytes) -> Iterator[BinaryIO]:
    """The bytes as a file in memory (a memfd: no disk) that OpenCV decodes into one array, as it does a file on disk;
    where there is no memfd, a BytesIO (imdecode: two pictures at the peak)."""
    if not (hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")):
        yield io.BytesIO(data)
        return
    with os.fdopen(os.memfd_create("fmnist-image", os.MFD_CLOEXEC), "w+b") as f:
        f.write(data)
        f.flush()
        yield f


def reduction(header: Header, enough: Enough | None) -> int:
    """The largest of libjpeg's scale denominators (8, 4, 2) at which an 8-bit JPEG's picture is still `enough`
    (libjpeg rounds each side up); 1 (full size) for another format, a deeper JPEG or no rule: a PNG's reduced
    read is a full decode and a resize, and drops alpha and depth."""
    if enough is None or header.format != "JPEG" or header.value_bytes != 1:
        return 1
    short, long = sorted((header.width, header.height))
    return next((scale for scale, _ in REDUCED if enough(-(-short // scale), -(-long // scale))), 1)


def _read(f: BinaryIO, name: Path | str, enough: Enough | None = None) -> np.ndarray:
    """The checked header, then the decode, of the image open as `f`; `name` is the file's, for the messages."""
    try:
        header = read_header(f)
    except HeaderError as e:
        raise ImageError(f"{name}: {e}") from None
    _check_pixels(name, header.width, header.height)
    _check_bytes(name, header)
    try:  # OpenCV refuses some images (over its own pixel limit) by raising, not returning None
        image = _decode(f, header, reduction(header, enough))
    except MemoryError as e:
        raise ImageTooLarge(f"{name}: too large to decode in the memory available; downscale it first") from e
    except cv2.error as e:
        why = "too many pixels for OpenCV" if "PIXELS" in str(e) else "OpenCV's decoder failed"
        raise ImageError(f"{name}: cannot decode it ({why}); downscale it or save it as JPEG or PNG") from e
    if image is None:
        raise ImageError(f"{name}: not an image OpenCV can decode (corrupt, truncated or another format)")
    _check_pixels(name, image.shape[1], image.shape[0])  # a decoder that disagrees with its header
    return image


@contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    """The file open for reading: a regular file (a FIFO would block, a device or a sparse giant would fill memory)
    of 1 to MAX_FILE_BYTES bytes."""
    try:
        if checked_size(path, MAX_FILE_BYTES, "an image may take", ImageError, "downscale it first") == 0:
            raise ImageError(f"{path}: empty file")
        f = path.open("rb")
    except (OSError, RuntimeError) as e:  # missing, unreadable, a symlink loop
        raise ImageError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from e
    with f:
        try:
            yield f
        except OSError as e:  # a read that fails midway (an I/O error, a file cut short under us)
            raise ImageError(f"{path}: cannot read ({e.strerror or e})") from e


def _check_pixels(path: Path | str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(f"{path}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                            f"{MAX_PIXELS // 1_000_000} MP limit; downscale it first")


def _check_bytes(path: Path | str, header: Header) -> None:
    """The picture, and with it what its decoder allocates beside it (Header.peak_bytes), within MAX_DECODED_BYTES;
    the error names the decoder's share only when the picture alone would fit."""
    if header.peak_bytes <= MAX_DECODED_BYTES:
        return
    what = f"{path}: {header.width}x{header.height} {header.format} at {header.depth()} decodes to"
    limit = f"over the {MAX_DECODED_BYTES // 1_000_000} MB limit"
    if header.decoded_bytes > MAX_DECODED_BYTES:
        raise ImageTooLarge(f"{what} {header.decoded_bytes / 1e6:.0f} MB, {limit}; downscale it or save it as an "
                            "8-bit JPEG or PNG")
    raise ImageTooLarge(f"{what} {header.decoded_bytes / 1e6:,.0f} MB, and its decoder needs "
                        f"{header.work_bytes / 1e6:,.0f} MB more ({header.work}): {header.peak_bytes / 1e6:,.0f} MB, "
                        f"{limit}; downscale it or save it as a baseline JPEG or PNG")


def _decode(f: BinaryIO, header: Header, scale: int = 1) -> np.ndarray | None:
    """One decode (at 1/`scale` of each side when `scale` is one of REDUCED's), or two when the header allows an
    alpha channel the picture turns out not to have: never two decoded pictures in memory at once."""
    decode = _decoder(f, header)
    if scale > 1:
        reduced = decode(dict(REDUCED)[scale])
        if reduced is not None:
            return reduced
    if header.alpha:  # IMREAD_UNCHANGED keeps alpha but ignores EXIF orientation
        image = decode(cv2.IMREAD_UNCHANGED)
        if image is None or (image.ndim == 3 and image.shape[2] == 4):
            return image
        del image
    rotated = decode(ROTATED)
    return rotated if rotated is not None else decode(cv2.IMREAD_UNCHANGED)


def _decoder(f: BinaryIO, header: Header) -> Callable[[int], np.ndarray | None]:
    """flags -> the decoded picture or None. imread decodes straight into the numpy array it is given, where
    imdecode's result is copied into one (two pictures at the peak) and needs the file's bytes in memory. A JPEG
    still goes through imdecode: from memory, a truncated one is refused instead of decoded half grey with libjpeg's
    warning on stderr (and its file is a fraction of its pixels). An image in memory (BytesIO) has no file: imdecode."""
    if header.format == "JPEG" or isinstance(f, io.BytesIO):
        f.seek(0)
        buf = np.frombuffer(f.read(), np.uint8)
        return lambda flags: cv2.imdecode(buf, flags)
    name = f"/proc/self/fd/{f.fileno()}" if os.path.isdir("/proc/self/fd") else f.name  # the file checked

    def read(flags: int) -> np.ndarray | None:
        image = cv2.imread(name, np.empty(0, np.uint8), flags)
        return image if image is not None and image.size else None  # a failed read: None or the empty array

    return read


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded array (grey/BGR/BGRA; uint8, uint16 or float) -> BGR uint8, alpha composited on white."""
    if image.ndim not in (2, 3) or image.size == 0 or min(image.shape[:2]) < 1:
        raise ImageError(f"not an image array: shape {image.shape}")
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image  # already BGR uint8
    if image.dtype == np.uint8:
        pixels = image.astype(np.float32)
    elif image.dtype == np.uint16:
        pixels = image.astype(np.float32) / 257.0
    elif np.issubdtype(image.dtype, np.floating):
        pixels = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0).clip(0, 1) * 255
    else:
        raise ImageError(f"unsupported pixel type {image.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    channels = pixels.shape[2]
    if channels == 4:
        alpha = pixels[..., 3:] / 255.0
        pixels = pixels[..., :3] * alpha + 255.0 * (1 - alpha)
    elif channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels != 3:
        raise ImageError(f"unsupported channel count {channels}")
    return np.clip(pixels + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Shrunk:
    small: np.ndarray  # BGR uint8, its long side at most the size asked for (the cut-out segments it)
    factor: float  # small = input * factor


def shrink(image: np.ndarray, long_side: int) -> Shrunk:
    """Any photo array -> BGR uint8, its long side at most `long_side` (shrunk first, at any depth or channel
    count: cheaper)."""
    if image.ndim not in (2, 3) or image.size == 0:
        raise ImageError(f"not an image array: shape {image.shape}")
    h, w = image.shape[:2]
    factor = min(1.0, long_side / max(h, w))
    if factor < 1.0:
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        if np.issubdtype(image.dtype, np.floating):  # NaN and infinity would spread over the area
            image = _float_shrunk(image, size)
        else:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return Shrunk(to_bgr8(image), factor)


def _float_shrunk(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float picture resized to `size`, NaN and infinity cleaned a band of rows at a time (never a full copy)."""
    bands = []
    for rows in np.array_split(np.arange(image.shape[0]), max(1, image.shape[0] // 512)):
        band = np.nan_to_num(image[rows[0] : rows[-1] + 1].astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        height = max(1, round(len(rows) * size[1] / image.shape[0]))
        bands.append(cv2.resize(band, (size[0], height), interpolation=cv2.INTER_AREA))
    return cv2.resize(np.vstack(bands), size, interpolation=cv2.INTER_AREA)
