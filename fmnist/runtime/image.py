"""Any image a user or a camera hands us -> a BGR uint8 array: decoding (EXIF rotation, alpha, 16-bit, size
limits before anything is allocated), conversion and shrinking, and `Prepared`, what every preprocessing kind
(fmnist.runtime.preparation) returns."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fmnist.core.errors import FmnistError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
MAX_PIXELS = 100_000_000  # refuse to decode anything larger (a 20000x20000 image is 400 MP, 1.2 GB decoded)
MAX_FILE_BYTES = 256_000_000  # refuse to read a file larger than this (a 100 MP photo is a few tens of MB)


class ImageError(FmnistError):
    """An input that is not a usable image (missing, empty, not an image, truncated)."""


@dataclass(frozen=True)
class Prepared:
    image: np.ndarray  # what the model sees: (28, 28) uint8, the object bright on black (fmnist.runtime.crop: BGR)
    low_contrast: bool  # the object barely differs from its background (e.g. white on white)
    empty: bool  # nothing stands out of the background (a speck at most): no object to classify
    box: tuple[int, int, int, int]  # (x, y, w, h) of the object in the input image's pixels


def declared_size(buf: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, without decoding; None for other formats."""
    head = buf[:65536].tobytes()
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] == b"\xff\xd8":  # walk the JPEG segments to the first start-of-frame
        i = 2
        while i + 9 < len(head) and head[i] == 0xFF:
            marker, length = head[i + 1], int.from_bytes(head[i + 2 : i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(head[i + 7 : i + 9], "big"), int.from_bytes(head[i + 5 : i + 7], "big")
            i += 2 + length
    return None


def read_image(path: Path) -> np.ndarray:
    """Decode a file as OpenCV does, keeping alpha and 16-bit depth, with EXIF orientation applied."""
    path = Path(path)
    buf = _read_bytes(path)
    if buf.size == 0:
        raise ImageError(f"{path}: empty file")
    size = declared_size(buf)
    if size:
        _check_pixels(path, *size)  # before decoding: a PNG or JPEG bomb never allocates
    try:  # OpenCV refuses some images (over its own pixel limit: a 144 MP TIFF) by raising, not returning None
        image = _decode(buf)
    except MemoryError as e:
        raise ImageError(f"{path}: too large to decode in the memory available; downscale it first") from e
    except cv2.error as e:
        why = "too many pixels for OpenCV" if "PIXELS" in str(e) else "OpenCV's decoder failed"
        raise ImageError(f"{path}: cannot decode it ({why}); downscale it or save it as JPEG or PNG") from e
    if image is None:
        raise ImageError(f"{path}: not an image OpenCV can decode (corrupt, truncated or another format)")
    _check_pixels(path, image.shape[1], image.shape[0])  # formats whose header declared_size does not read
    return image


def _read_bytes(path: Path) -> np.ndarray:
    """The file's bytes, from a regular file of at most MAX_FILE_BYTES (a FIFO would block, a device or a sparse
    giant would fill memory)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{path}: not a regular file (a folder, a pipe or a device); skipped")
        if info.st_size > MAX_FILE_BYTES:
            raise ImageError(f"{path}: {info.st_size / 1e6:.0f} MB, over the {MAX_FILE_BYTES // 1_000_000} MB an "
                             "image may take; downscale it first")
        return np.fromfile(path, dtype=np.uint8)
    except (OSError, RuntimeError) as e:  # missing, unreadable, a symlink loop
        raise ImageError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from e


def _check_pixels(path: Path, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(f"{path}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                         f"{MAX_PIXELS // 1_000_000} MP limit; downscale it first")


def _decode(buf: np.ndarray) -> np.ndarray | None:
    # IMREAD_UNCHANGED keeps alpha but ignores EXIF orientation; ANYCOLOR|ANYDEPTH applies it but drops alpha
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if image is None or (image.ndim == 3 and image.shape[2] == 4):
        return image
    del image  # one decoded picture in memory at a time, not two
    rotated = cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    return rotated if rotated is not None else cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


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
