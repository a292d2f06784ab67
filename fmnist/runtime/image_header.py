"""What an image file declares before its pixels, read without decoding: its format, width and height, and what
OpenCV decodes it to (bytes per value, channels at most, alpha or not). fmnist.runtime.image refuses a picture too
large for memory from this, before OpenCV allocates anything.

OpenCV picks its decoder from a file's content, not its name, so a file is taken only when its signature is one
of FORMATS, whose headers are read here. Anything else (Radiance HDR, PFM, OpenEXR, PxM, JPEG 2000, AVIF...) is
refused: its decoded size would go unchecked, and a float picture takes 12 or 16 bytes a pixel.

Some decoders also allocate buffers of their own beside the picture, which the header declares too (Header.work_bytes):
- a TIFF is decoded a tile or a strip at a time, each into OpenCV's buffer and, for an 8-bit one, libtiff's: a
  16x16 TIFF may declare one 16000x16000 tile (1.2 GB). A tile larger than the image is refused outright;
- a progressive JPEG, or one whose first scan holds fewer components than the frame, keeps every DCT coefficient
  (2 bytes a sample) until its last scan: 800 MB more for a 10000x10000 CMYK one;
- a GIF is drawn on a BGRA canvas from a byte a pixel of codes, and the first frame's area may be copied to be
  restored; an animated WebP is composed on a canvas beside the previous one (1.1 GB for a 9000x9000 one).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

FORMATS = "JPEG, PNG, TIFF, WebP, BMP or GIF"
MAX_SEGMENTS = 4096  # JPEG segments or PNG chunks walked before the frame size or the pixels (a photo has < 20)
PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}  # colour type -> channels OpenCV decodes (grey, RGB, palette, +alpha)
JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
JPEG_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}  # progressive frames (Huffman or arithmetic coded): many scans
JPEG_COEFFICIENT_BYTES = 128  # an 8x8 block of 2-byte coefficients, as libjpeg keeps it for a many-scan JPEG
TIFF_TAGS = {256: "width", 257: "height", 258: "bits", 262: "photometric", 277: "samples", 278: "rows per strip",
             322: "tile width", 323: "tile length", 324: "tile offsets", 338: "extra", 339: "sample format"}
TIFF_ONE_STRIP = (0, 2**32 - 1)  # RowsPerStrip values OpenCV reads as the image's height
TIFF_TILE_UNIT = 16  # tile sides are multiples of 16: a tile may pass the image's edge to the next one
TIFF_TILE_ANY = 1024  # a tile side writers use whatever the image's size (256 or 512 usually): never refused
WEBP_ANIMATED_WORK = 8  # bytes a pixel beside the picture: libwebp's canvas and the previous one, BGRA each
GIF_WORK = 4 + 1 + 4  # bytes a pixel beside the picture: OpenCV's BGRA canvas, the codes, the area to restore
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
    work_bytes: int = 0  # what the decoder allocates beside the picture (a TIFF's tile buffers, JPEG coefficients)
    work: str = ""  # what those bytes hold, in words: "16000x16000 tiles"

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        return self.pixels * self.value_bytes * self.channels

    @property
    def peak_bytes(self) -> int:
        """The picture and the decoder's own buffers, held at once while it decodes."""
        return self.decoded_bytes + self.work_bytes

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
    for code, pos in _jpeg_segments(f, 2):
        if code in JPEG_FRAMES:
            return _jpeg_frame(f, pos, code)
        if code == 0xDA:  # the pixels, before any frame size
            break
    raise _damaged("JPEG")


def _jpeg_segments(f: BinaryIO, pos: int) -> Iterator[tuple[int, int]]:
    """Each marker segment's code and position from `pos` on, up to the end (EOI) or MAX_SEGMENTS steps; the caller
    stops at the first scan (SOS), after which come the pixels."""
    for _ in range(MAX_SEGMENTS):
        marker, code = _at(f, pos, 2)
        if marker != 0xFF:
            raise _damaged("JPEG")
        if code == 0xFF or code == 0x01 or 0xD0 <= code <= 0xD8:  # a fill byte, or a marker without a length
            pos += 1 if code == 0xFF else 2
            continue
        if code == 0xD9:
            return
        yield code, pos
        pos += 2 + int.from_bytes(_at(f, pos + 2, 2), "big")


def _jpeg_frame(f: BinaryIO, pos: int, code: int) -> Header:
    """The frame at `pos`: its size, precision and components, and the coefficients libjpeg keeps when it is
    decoded in many scans (progressive, or a first scan that holds fewer components than the frame)."""
    length, precision, height, width, components = struct.unpack(">HBHHB", _at(f, pos + 2, 8))
    if components not in (1, 3, 4):  # grey, YCbCr, CMYK (decoded as BGR)
        raise _damaged("JPEG")
    # each component's sampling factors, 1 to 4 (libjpeg refuses others before it allocates: counted as 1 or 4)
    sampling = [(min(max(b >> 4, 1), 4), min(max(b & 15, 1), 4)) for b in _at(f, pos + 10, 3 * components)[1::3]]
    value_bytes = 1 if precision <= 8 else 2
    first_scan = next((_at(f, at + 4, 1)[0] for kind, at in _jpeg_segments(f, pos + 2 + length) if kind == 0xDA), 0)
    if code not in JPEG_PROGRESSIVE and first_scan >= components:  # one scan of every component: row by row
        return Header("JPEG", width, height, value_bytes, components)
    return Header("JPEG", width, height, value_bytes, components, False, _coefficient_bytes(width, height, sampling),
                  "decoded in many scans: every coefficient kept to the last")


def _coefficient_bytes(width: int, height: int, sampling: list[tuple[int, int]]) -> int:
    """libjpeg's coefficient arrays for a many-scan JPEG (jdcoefct.c): each component's 8x8 blocks, at its
    sampling, rounded up to whole MCUs."""
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    blocks = 0
    for h, v in sampling:
        across, down = -(-width * h // (h_max * 8)), -(-height * v // (v_max * 8))
        blocks += -(-across // h) * h * (-(-down // v) * v)
    return JPEG_COEFFICIENT_BYTES * blocks


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
    width, height = tags["width"][0], tags["height"][0]
    bits, samples = max(tags.get("bits", [1])), tags.get("samples", [1])[0]
    value_bytes = next((b for b in (1, 2, 4, 8) if bits <= 8 * b), None)
    if value_bytes is None or samples < 1:
        raise _damaged("TIFF")
    if 3 in tags.get("sample format", [1]):  # floats: a half float may be widened
        value_bytes = max(value_bytes, 4)
    colour = tags.get("photometric", [1])[0] in (2, 3, 6)  # RGB, a palette, YCbCr: decoded as BGR
    piece_width, piece_height, piece = _tiff_piece(tags, width, height)
    per_pixel = 4 + samples if value_bytes == 1 else samples * value_bytes * (2 if bits < 8 * value_bytes else 1)
    return Header("TIFF", width, height, value_bytes, max(samples, 3 if colour else 1),
                  samples not in (1, 3) or "extra" in tags, piece_width * piece_height * per_pixel, piece)


def _tiff_piece(tags: dict[str, list[int]], width: int, height: int) -> tuple[int, int, str]:
    """The tile or strip OpenCV decodes at a time: its width, its height and, in words, what it is. Its buffers
    (per_pixel above): an 8-bit picture is read as RGBA (OpenCV's 4 bytes a pixel) out of libtiff's decoded tile
    (a byte a sample); a deeper one straight into OpenCV's buffer, widened into a second one when its values are
    packed (10, 12 or 14 bits). A strip's rows past the image are never written, a tile's are."""
    if "tile offsets" not in tags:  # strips (libtiff tells a tiled TIFF by its TileOffsets)
        rows = tags.get("rows per strip", [0])[0]
        rows = height if rows in TIFF_ONE_STRIP else min(rows, height)
        return width, rows, f"strips of {rows} rows"
    if "tile width" not in tags or "tile length" not in tags:
        raise _damaged("TIFF")
    across, down = tags["tile width"][0], tags["tile length"][0]
    if across < 1 or down < 1:
        raise _damaged("TIFF")
    if any(side > max(-(-edge // TIFF_TILE_UNIT) * TIFF_TILE_UNIT, TIFF_TILE_ANY)
           for side, edge in ((across, width), (down, height))):
        raise HeaderError(f"its TIFF tiles ({across}x{down}) are larger than the image ({width}x{height}), which "
                          "no writer makes and OpenCV would allocate whole; save it as JPEG or PNG")
    return across, down, f"{across}x{down} tiles"


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
        animated = bool(head[20] & 0x02)
        return Header("WebP", width, height, 1, 4, bool(head[20] & 0x10),
                      WEBP_ANIMATED_WORK * width * height if animated else 0, "an animated WebP's canvases")
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
    return Header("GIF", width, height, 1, 4, True, GIF_WORK * width * height, "a GIF's canvas and codes")


READERS: tuple[tuple[Callable[[bytes], bool], Callable[[BinaryIO, bytes], Header]], ...] = (
    (lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"), _png),
    (lambda h: h.startswith(b"\xff\xd8"), _jpeg),
    (lambda h: h[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"), _tiff),
    (lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP", _webp),
    (lambda h: h[:2] == b"BM", _bmp),
    (lambda h: h[:6] in (b"GIF87a", b"GIF89a"), _gif),
)
