"""What an image file declares before its pixels, read without decoding: its format, width and height, and what
OpenCV decodes it to (bytes per value, channels at most, alpha or not). fmnist.runtime.image refuses a picture too
large for memory from this, before OpenCV allocates anything.

OpenCV picks its decoder from a file's content, not its name, so a file is taken only when its signature is one
of FORMATS, whose headers are read here. Anything else (Radiance HDR, PFM, OpenEXR, PxM, JPEG 2000, AVIF...) is
refused: its decoded size would go unchecked, and a float picture takes 12 or 16 bytes a pixel.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

FORMATS = "JPEG, PNG, TIFF, WebP, BMP or GIF"
MAX_SEGMENTS = 4096  # JPEG segments or PNG chunks walked before the frame size or the pixels (a photo has < 20)
PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}  # colour type -> channels OpenCV decodes (grey, RGB, palette, +alpha)
JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
TIFF_TAGS = {256: "width", 257: "height", 258: "bits", 262: "photometric", 277: "samples", 338: "extra",
             339: "sample format"}
TIFF_TYPES = {1: "B", 3: "H", 4: "I"}  # BYTE, SHORT, LONG


class HeaderError(ValueError):
    """A file whose header cannot be taken: the message says why, after the file's name."""


@dataclass(frozen=True)
class Header:
    format: str  # one of FORMATS
    width: int
    height: int
    value_bytes: int = 1  # each channel's value once decoded: 1 (8-bit), 2 (16-bit), 4 or 8 (float)
    channels: int = 3  # at most, once decoded
    alpha: bool = False  # may decode with an alpha channel (OpenCV's IMREAD_UNCHANGED keeps it)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        return self.pixels * self.value_bytes * self.channels

    def depth(self) -> str:
        """In words: '16-bit, 4 channels'."""
        return f"{8 * self.value_bytes}-bit, {self.channels} channel{'s' if self.channels > 1 else ''}"


def read_header(f: BinaryIO) -> Header:
    """The header of the image file open as `f`; HeaderError for any other file, or a header cut short or damaged."""
    f.seek(0)
    head = f.read(32)
    reader = next((read for match, read in READERS if match(head)), None)
    if reader is None:
        raise HeaderError(f"not an image fmnist reads: it is not a {FORMATS}; save it as JPEG or PNG")
    header = reader(f, head)
    if header.width < 1 or header.height < 1:
        raise HeaderError(f"not an image OpenCV can decode (its {header.format} header declares "
                          f"{header.width}x{header.height} pixels)")
    return header


def _at(f: BinaryIO, offset: int, size: int) -> bytes:
    """`size` bytes at `offset`, or HeaderError when the file ends first."""
    f.seek(offset)
    data = f.read(size)
    if len(data) < size:
        raise HeaderError("not an image OpenCV can decode (its header is cut short: truncated or damaged)")
    return data


def _damaged(what: str) -> HeaderError:
    return HeaderError(f"not an image OpenCV can decode (its {what} header is damaged)")


def _png(f: BinaryIO, head: bytes) -> Header:
    length, kind, width, height, depth, colour = struct.unpack(">I4sIIBB", _at(f, 8, 18))
    if kind != b"IHDR" or depth not in (1, 2, 4, 8, 16) or colour not in PNG_CHANNELS:
        raise _damaged("PNG")
    alpha = PNG_CHANNELS[colour] == 4 or (colour in (2, 3) and _png_transparency(f, 8 + 12 + length))
    return Header("PNG", width, height, 2 if depth == 16 else 1, 4 if alpha else PNG_CHANNELS[colour], alpha)


def _png_transparency(f: BinaryIO, pos: int) -> bool:
    """Whether a tRNS chunk comes before the pixels (OpenCV then decodes RGB or a palette as BGRA); after
    MAX_SEGMENTS chunks without reaching the pixels, assume one does."""
    for _ in range(MAX_SEGMENTS):
        f.seek(pos)
        chunk = f.read(8)
        if len(chunk) < 8 or chunk[4:] in (b"IDAT", b"IEND"):
            return False
        if chunk[4:] == b"tRNS":
            return True
        pos += 12 + int.from_bytes(chunk[:4], "big")
    return True


def _jpeg(f: BinaryIO, head: bytes) -> Header:
    """The first start-of-frame segment's size, precision and components, walking the segments before it."""
    pos = 2
    for _ in range(MAX_SEGMENTS):
        marker, code = _at(f, pos, 2)
        if marker != 0xFF:
            raise _damaged("JPEG")
        if code == 0xFF or code == 0x01 or 0xD0 <= code <= 0xD8:  # a fill byte, or a marker without a length
            pos += 1 if code == 0xFF else 2
            continue
        if code in JPEG_FRAMES:
            precision, height, width, components = struct.unpack(">BHHB", _at(f, pos + 4, 6))
            if components not in (1, 3, 4):  # grey, YCbCr, CMYK (decoded as BGR)
                raise _damaged("JPEG")
            return Header("JPEG", width, height, 1 if precision <= 8 else 2, components)
        if code in (0xD9, 0xDA):  # the end, or the pixels, before any frame size
            break
        pos += 2 + int.from_bytes(_at(f, pos + 2, 2), "big")
    raise _damaged("JPEG")


def _tiff(f: BinaryIO, head: bytes) -> Header:
    """The first image's tags (little- or big-endian); a BigTIFF is refused."""
    order = "<" if head[:2] == b"II" else ">"
    if struct.unpack(order + "H", head[2:4])[0] == 43:
        raise HeaderError("a BigTIFF, which fmnist does not read (a photo never needs one); save it as JPEG or PNG")
    offset = struct.unpack(order + "I", _at(f, 4, 4))[0]
    count = struct.unpack(order + "H", _at(f, offset, 2))[0]
    entries = _at(f, offset + 2, 12 * count)
    tags: dict[str, list[int]] = {}
    for i in range(count):
        tag, kind, n, value = struct.unpack(order + "HHI4s", entries[12 * i : 12 * i + 12])
        if tag in TIFF_TAGS:
            tags[TIFF_TAGS[tag]] = _tiff_values(f, order, kind, n, value)
    if "width" not in tags or "height" not in tags:
        raise _damaged("TIFF")
    bits, samples = max(tags.get("bits", [1])), tags.get("samples", [1])[0]
    value_bytes = next((b for b in (1, 2, 4, 8) if bits <= 8 * b), None)
    if value_bytes is None or samples < 1:
        raise _damaged("TIFF")
    if 3 in tags.get("sample format", [1]):  # floats: a half float may be widened
        value_bytes = max(value_bytes, 4)
    colour = tags.get("photometric", [1])[0] in (2, 3, 6)  # RGB, a palette, YCbCr: decoded as BGR
    return Header("TIFF", tags["width"][0], tags["height"][0], value_bytes, max(samples, 3 if colour else 1),
                  samples not in (1, 3) or "extra" in tags)


def _tiff_values(f: BinaryIO, order: str, kind: int, n: int, value: bytes) -> list[int]:
    """A tag's first values (at most 16: BitsPerSample repeats for each sample), inline or at the offset given."""
    if kind not in TIFF_TYPES or n < 1:
        raise _damaged("TIFF")
    code = TIFF_TYPES[kind]
    size, shown = struct.calcsize(code), min(n, 16)
    raw = value if size * n <= 4 else _at(f, struct.unpack(order + "I", value)[0], size * shown)
    return list(struct.unpack(f"{order}{shown}{code}", raw[: size * shown]))


def _webp(f: BinaryIO, head: bytes) -> Header:
    """The canvas of an extended WebP, or the frame of a lossy (VP8) or lossless (VP8L) one."""
    if len(head) < 30:
        raise _damaged("WebP")
    chunk = head[12:16]
    if chunk == b"VP8X":
        width, height = (1 + int.from_bytes(head[i : i + 3], "little") for i in (24, 27))
        return Header("WebP", width, height, 1, 4, bool(head[20] & 0x10))
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = (int.from_bytes(head[i : i + 2], "little") & 0x3FFF for i in (26, 28))
        return Header("WebP", width, height, 1, 3)
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return Header("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1, 4, bool(bits >> 28 & 1))
    raise _damaged("WebP")


def _bmp(f: BinaryIO, head: bytes) -> Header:
    if len(head) < 30:
        raise _damaged("BMP")
    if int.from_bytes(head[14:18], "little") == 12:  # the OS/2 core header: 16-bit sizes
        width, height, bits = struct.unpack("<HH2xH", head[18:26])
    else:
        width, height, bits = struct.unpack("<ii2xH", head[18:30])
    return Header("BMP", width, abs(height), 1, 4 if bits == 32 else 3, bits == 32)  # height < 0: top-down


def _gif(f: BinaryIO, head: bytes) -> Header:
    if len(head) < 10:
        raise _damaged("GIF")
    width, height = struct.unpack("<HH", head[6:10])  # the logical screen every frame is drawn on
    return Header("GIF", width, height, 1, 4, True)


READERS: tuple[tuple[Callable[[bytes], bool], Callable[[BinaryIO, bytes], Header]], ...] = (
    (lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"), _png),
    (lambda h: h.startswith(b"\xff\xd8"), _jpeg),
    (lambda h: h[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"), _tiff),
    (lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP", _webp),
    (lambda h: h[:2] == b"BM", _bmp),
    (lambda h: h[:6] in (b"GIF87a", b"GIF89a"), _gif),
)
