"""Every reader checks the size it is about to allocate before it allocates: images (the decoded bytes from the
header: depth x channels x pixels; a format whose header is not read is refused), whole files (stat before read),
npz members (the declared shape against the member's size), gzipped IDX files (inflated at most to the limit), and
the `.pth` opcode check in linear time. docs/reliability.md maps each case to its test here.

The crafted files hold a header and a few bytes: a refusal that came after decoding (or reading) would need the
gigabytes the header declares, and would say something else."""

from __future__ import annotations

import io
import json
import math
import os
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from crafted import meta_text, model
from photo_tree import make_tree
from PIL import Image
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import DataError, ModelError, UsageError
from fmnist.data import fashion
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import LargeTurns, _prepare, load_photos
from fmnist.evaluation.run_card import RunCard
from fmnist.evaluation.testset import MAX_NPZ_MEMBERS
from fmnist.runtime import image
from fmnist.runtime.image import ImageError, read_image
from fmnist.runtime.image_header import HeaderError, read_header
from fmnist.runtime.preparation import CUTOUT
from fmnist.train.backbones.pth import MAX_PICKLE_OPS, BadWeightsFile, load_state_dict

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photos" / "pants.jpg"
GIGABYTES = 1_200_000_000  # the size of the sparse files below: nothing is written to disk
runner = CliRunner()


def sparse(path: Path, size: int = GIGABYTES) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


def traced_peak(call) -> int:
    """The most bytes Python allocated (numpy included) while `call` ran."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- crafted image headers ---------------------------------------------------------------------------------------

def chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def png(width: int, height: int, depth: int, colour: int, before_pixels: bytes = b"") -> bytes:
    """A PNG header and a tiny IDAT: what the header declares, nothing of the pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + before_pixels + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def tiff(order: str, width: int, height: int, bits: int, samples: int, sample_format: int = 1,
         pixels: bytes = b"", tile: int = 0, tags: tuple[tuple[int, int, int, int], ...] = ()) -> bytes:
    """A TIFF's first IFD (little- or big-endian) declaring the size, depth and samples, and `tags` (tag, type,
    count, value); `pixels` (in its byte order) after it: one strip, or tiles of `tile` x `tile` pixels in rows."""
    endian = "<" if order == "II" else ">"
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, samples, bits), (262, 3, 1, 2 if samples > 2 else 1),
               (277, 3, 1, samples), (339, 3, samples, sample_format), *tags]
    if pixels and tile:  # tiles, the first at offset 512
        count, size = len(pixels) // (tile * tile * samples * bits // 8), tile * tile * samples * bits // 8
        entries += [(322, 4, 1, tile), (323, 4, 1, tile), (324, 4, count, [512 + i * size for i in range(count)]),
                    (325, 4, count, size)]
    elif pixels:  # one strip, at offset 512
        entries += [(273, 4, 1, 512), (278, 4, 1, height), (279, 4, 1, len(pixels))]
    entries.sort()
    beyond = 8 + 2 + 12 * len(entries) + 4  # values longer than 4 bytes go after the IFD
    fields, extra = [], b""
    for tag, kind, count, value in entries:
        values = value if isinstance(value, list) else [value] * count
        data = struct.pack(f"{endian}{count}{'H' if kind == 3 else 'I'}", *values)
        if len(data) > 4:
            data, extra = struct.pack(endian + "I", beyond + len(extra)), extra + data
        fields.append(struct.pack(endian + "HHI", tag, kind, count) + data.ljust(4, b"\0"))
    magic = b"II*\0" if order == "II" else b"MM\0*"
    head = (magic + struct.pack(endian + "I", 8) + struct.pack(endian + "H", len(entries)) + b"".join(fields)
            + b"\0" * 4 + extra)
    return head.ljust(512, b"\0") + pixels if pixels else head + b"\0" * 64


def tiled(array: np.ndarray, tile: int) -> bytes:
    """An 8-bit RGB(A) array as a TIFF of `tile` x `tile` tiles, those at the right and bottom edges padded."""
    rows, cols = -(-array.shape[0] // tile), -(-array.shape[1] // tile)
    padded = np.zeros((rows * tile, cols * tile, array.shape[2]), np.uint8)
    padded[: array.shape[0], : array.shape[1]] = array
    tiles = b"".join(padded[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile].tobytes()
                     for r in range(rows) for c in range(cols))
    extra = ((338, 3, 1, 2),) if array.shape[2] == 4 else ()  # unassociated alpha
    return tiff("II", array.shape[1], array.shape[0], 8, array.shape[2], pixels=tiles, tile=tile, tags=extra)


def jpeg_frame_after(padding: int, width: int, height: int) -> bytes:
    """A JPEG whose frame size comes after `padding` bytes of APP1 segments (past the 64 KB read before)."""
    apps = b""
    while padding > 0:
        size = min(padding, 65533)
        apps, padding = apps + b"\xff\xe1" + (size + 2).to_bytes(2, "big") + b"\0" * size, padding - size
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\0" * 9
    return b"\xff\xd8" + apps + sof + b"\xff\xd9"


def refused(path: Path, blob: bytes, match: str) -> None:
    path.write_bytes(blob)
    with pytest.raises(ImageError, match=match):
        read_image(path)


def test_a_16_bit_rgba_png_under_the_pixel_limit_is_refused_for_its_decoded_bytes(tmp_path):
    """10000x9999 is under 100 MP, but 16-bit RGBA decodes to 800 MB (it took 1.7 GB)."""
    refused(tmp_path / "deep.png", png(10000, 9999, 16, 6),
            r"deep\.png: 10000x9999 PNG at 16-bit, 4 channels decodes to 800 MB, over the 400 MB limit; downscale "
            r"it or save it as an 8-bit JPEG or PNG")
    refused(tmp_path / "rgb16.png", png(9000, 9000, 16, 2), r"9000x9000 PNG at 16-bit, 3 channels decodes to 486 MB")
    refused(tmp_path / "trns.png", png(8000, 8000, 16, 2, chunk(b"tRNS", b"\0" * 6)),  # 384 MB, but tRNS: BGRA
            r"8000x8000 PNG at 16-bit, 4 channels decodes to 512 MB")


@pytest.mark.parametrize("order", ["II", "MM"])
def test_a_float_tiff_is_refused_from_its_header_in_either_byte_order(tmp_path, order):
    """TIFF had no header check: a float one under the pixel limit decoded to 2.5 GB."""
    refused(tmp_path / "float.tif", tiff(order, 6000, 6000, 32, 4, sample_format=3),
            r"6000x6000 TIFF at 32-bit, 4 channels decodes to 576 MB, over the 400 MB limit")
    refused(tmp_path / "huge.tif", tiff(order, 12000, 12000, 8, 1), r"12000x12000 is 144 megapixels, over the 100 MP")
    refused(tmp_path / "big.tif", (b"II+\0" if order == "II" else b"MM\0+") + b"\0" * 64,
            r"big\.tif: a BigTIFF, which fmnist does not read .*; save it as JPEG or PNG")


@pytest.mark.parametrize("name, blob", [
    ("webp", b"RIFF\0\0\0\0WEBPVP8X" + (10).to_bytes(4, "little") + b"\x10\0\0\0" + (16383).to_bytes(3, "little") * 2),
    ("bmp", b"BM" + b"\0" * 12 + struct.pack("<IiiHH", 40, 20000, -20000, 1, 24) + b"\0" * 64),
    ("gif", b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\0" * 64),
    ("jpg", jpeg_frame_after(200_000, 20000, 20000)),  # the frame size past the first 64 KB
], ids=lambda value: value if isinstance(value, str) else "header")  # not the blob: 800 KB of name in every report
def test_every_taken_format_is_refused_over_the_pixel_limit_from_its_header(tmp_path, name, blob):
    refused(tmp_path / f"huge.{name}", blob, r"is \d+ megapixels, over the 100 MP limit")


@pytest.mark.parametrize("ext, array", [(".hdr", np.full((8, 8, 3), 0.5, np.float32)),
                                         (".pfm", np.full((8, 8, 3), 0.5, np.float32)),
                                         (".ppm", np.full((8, 8, 3), 128, np.uint8))])
def test_a_format_whose_header_is_not_read_is_refused_whatever_its_name(tmp_path, ext, array):
    """OpenCV picks its decoder from the content: a float Radiance HDR or PFM named .jpg would decode unchecked."""
    ok, encoded = cv2.imencode(ext, array)
    assert ok and cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) is not None  # OpenCV would decode it
    refused(tmp_path / "photo.jpg", encoded.tobytes(),
            r"photo\.jpg: not an image fmnist reads: it is not a JPEG, PNG, TIFF, WebP, BMP or GIF; save it as JPEG "
            r"or PNG")


def test_an_openexr_file_is_refused_with_one_line_by_classify(tmp_path):
    exr = tmp_path / "scan.png"
    exr.write_bytes(b"\x76\x2f\x31\x01" + b"\0" * 200)  # OpenEXR's magic number
    got = runner.invoke(app, ["classify", str(exr), str(PHOTO)])
    assert got.exit_code == 1 and "Traceback" not in got.output and got.stdout.startswith(f"{PHOTO}: Trouser")
    assert f"skipped {exr}: not an image fmnist reads: it is not a JPEG, PNG" in got.stderr


def test_classify_skips_a_deep_png_and_a_float_tiff_and_goes_on(tmp_path):
    (tmp_path / "deep.png").write_bytes(png(10000, 9999, 16, 6))
    (tmp_path / "float.tif").write_bytes(tiff("II", 6000, 6000, 32, 4, sample_format=3))
    got = runner.invoke(app, ["classify", str(tmp_path / "deep.png"), str(tmp_path / "float.tif"), str(PHOTO)])
    assert got.exit_code == 1 and "Traceback" not in got.output
    deep, floats, summary = got.stderr.splitlines()
    assert deep.startswith(f"skipped {tmp_path}/deep.png: 10000x9999 PNG at 16-bit, 4 channels decodes to 800 MB")
    assert floats.startswith(f"skipped {tmp_path}/float.tif: 6000x6000 TIFF at 32-bit, 4 channels decodes to 576 MB")
    assert summary == "error: 2 of 3 inputs could not be classified (listed above)"
    assert got.stdout.startswith(f"{PHOTO}: Trouser")


def real_images(folder: Path) -> list[Path]:
    """One file of each depth, channel count and format fmnist takes, as OpenCV and Pillow write them."""
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)
    grey, bgra = bgr[..., 0], np.dstack([bgr, bgr[..., :1]])
    arrays = {"grey.png": grey, "bgr.png": bgr, "bgra.png": bgra, "grey16.png": grey.astype(np.uint16) * 257,
              "bgra16.png": bgra.astype(np.uint16) * 257, "grey.jpg": grey, "bgr.jpg": bgr,
              "grey.tif": grey, "bgra.tif": bgra, "bgr16.tif": bgr.astype(np.uint16),
              "float.tif": grey.astype(np.float32) / 255, "float3.tif": bgr.astype(np.float32) / 255,
              "float4.tif": bgra.astype(np.float32) / 255, "bgr.webp": bgr, "bgra.webp": bgra, "bgr.bmp": bgr,
              "grey.bmp": grey}
    paths = []
    for name, array in arrays.items():
        assert cv2.imwrite(str(folder / name), array)
        paths.append(folder / name)
    pil = Image.fromarray(bgr[..., ::-1].copy())
    for name, picture, options in [("cmyk.jpg", pil.convert("CMYK"), {}), ("palette.png", pil.convert("P"), {}),
                                   ("progressive.jpg", pil, {"progressive": True}),
                                   ("progressive-cmyk.jpg", pil.convert("CMYK"), {"progressive": True}),
                                   ("palette-trns.png", pil.convert("P"), {"transparency": 3}),
                                   ("palette.gif", pil.convert("P"), {}), ("bgra.bmp", pil.convert("RGBA"), {})]:
        picture.save(folder / name, **options)
        paths.append(folder / name)
    big_endian = bgr.astype(">u2") * 257  # a big-endian 16-bit RGB TIFF, written here: neither writer makes one
    (folder / "big-endian.tif").write_bytes(tiff("MM", 40, 24, 16, 3, pixels=big_endian[..., ::-1].tobytes()))
    (folder / "tiled.tif").write_bytes(tiled(bgr[..., ::-1], 16))  # 3 x 2 tiles, the last ones padded
    (folder / "tiled-rgba.tif").write_bytes(tiled(np.dstack([bgr[..., ::-1], bgr[..., :1]]), 256))  # one tile
    return [*paths, *(folder / name for name in ("big-endian.tif", "tiled.tif", "tiled-rgba.tif"))]


def test_the_header_bounds_what_opencv_decodes_for_every_taken_kind(tmp_path):
    """For each format, depth and channel count, the header's size is the decoded size and its decoded bytes are
    at least what OpenCV allocates: the byte limit holds whatever the file. (From the file, as read_image reads
    all but a JPEG: libtiff refuses an uncompressed tiled TIFF from memory.)"""
    for path in real_images(tmp_path):
        with path.open("rb") as f:
            header = read_header(f)
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert (header.height, header.width) == decoded.shape[:2], path.name
        assert header.decoded_bytes >= decoded.nbytes, path.name
        np.testing.assert_array_equal(read_image(path), decoded if decoded.ndim == 2 or decoded.shape[2] == 4 else
                                      cv2.imread(str(path), image.ROTATED))


def test_the_byte_limit_is_the_decoded_size_itself(tmp_path, monkeypatch):
    """A real 16-bit RGBA PNG of 30x20 decodes to 4,800 bytes: refused one byte under, read at the limit."""
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), np.full((20, 30, 4), 40000, np.uint16))
    monkeypatch.setattr(image, "MAX_DECODED_BYTES", 4_799)
    with pytest.raises(ImageError, match="decodes to 0 MB, over the 0 MB limit"):
        read_image(path)
    monkeypatch.setattr(image, "MAX_DECODED_BYTES", 4_800)
    assert read_image(path).nbytes == 4_800


@pytest.mark.parametrize("name, array", [("rgb.png", np.zeros((20, 30, 3), np.uint8)),
                                         ("grey16.png", np.zeros((20, 30), np.uint16)),
                                         ("rgba.png", np.zeros((20, 30, 4), np.uint8)),
                                         ("rgb.jpg", np.zeros((20, 30, 3), np.uint8))])
def test_an_image_is_decoded_once(tmp_path, monkeypatch, name, array):
    """Its header says whether it may carry alpha: no second decode (two decoded pictures' worth of work)."""
    path = tmp_path / name
    assert cv2.imwrite(str(path), array)
    calls = []
    for function in ("imread", "imdecode"):
        real = getattr(cv2, function)
        monkeypatch.setattr(cv2, function, lambda *a, real=real, **k: calls.append(a[-1]) or real(*a, **k))
    assert read_image(path).shape == array.shape
    assert len(calls) == 1


# --- what a decoder allocates beside the picture: TIFF tiles and strips, JPEG coefficients, GIF and WebP canvases ---

def test_a_tiff_whose_tiles_are_larger_than_the_image_is_refused_from_its_header(tmp_path):
    """A 16x16 RGBA TIFF of one 16000x16000 deflate tile (995 KB) took 1.16 GB: OpenCV allocates the whole tile."""
    path = tmp_path / "tile.tif"
    path.write_bytes(tiff("II", 16, 16, 8, 4, tags=((322, 4, 1, 16000), (323, 4, 1, 16000), (324, 4, 1, 512),
                                                     (325, 4, 1, 64), (338, 3, 1, 2))))
    got = runner.invoke(app, ["classify", str(path), str(PHOTO)])
    assert got.exit_code == 1 and "Traceback" not in got.output and got.stdout.startswith(f"{PHOTO}: Trouser")
    assert got.stderr.splitlines()[0] == (
        f"skipped {path}: its TIFF tiles (16000x16000) are larger than the image (16x16), which no writer makes and "
        "OpenCV would allocate whole; save it as JPEG or PNG")


@pytest.mark.parametrize("width, tile, taken", [(40, 256, True), (40, 1024, True), (40, 1040, False),
                                                (1030, 1040, True), (1030, 1056, False)])
def test_a_tile_may_pass_the_image_s_edge_as_writers_make_them(tmp_path, width, tile, taken):
    """Tiles of 256 to 1024 pixels over a small image, or to the next multiple of 16 past its edge, are usual."""
    blob = tiff("II", width, 24, 8, 3, tags=((322, 4, 1, tile), (323, 4, 1, 16), (324, 4, 1, 512), (325, 4, 1, 64)))
    with io.BytesIO(blob) as f:
        if taken:
            assert read_header(f).work_bytes == tile * 16 * (4 + 3)  # OpenCV's RGBA tile and libtiff's RGB one
        else:
            with pytest.raises(HeaderError, match=rf"its TIFF tiles \({tile}x16\) are larger than the image"):
                read_header(f)


def test_a_real_tiled_tiff_is_read_whole(tmp_path):
    bgr = np.random.default_rng(1).integers(0, 255, (40, 70, 3), dtype=np.uint8)
    path = tmp_path / "tiled.tif"
    path.write_bytes(tiled(bgr[..., ::-1], 32))  # 3 x 2 tiles, those on the right and at the bottom padded
    np.testing.assert_array_equal(read_image(path), bgr)


def test_a_tiff_s_tile_or_strip_buffers_count_against_the_byte_limit(tmp_path):
    """10000x10000 RGB in one strip: 300 MB of picture, 700 MB of OpenCV's RGBA strip and libtiff's (839 MB in
    all); in strips of 64 rows it fits. A 16-bit RGBA picture of 392 MB has no room for its 2048x2048 tiles."""
    refused(tmp_path / "strip.tif", tiff("II", 10000, 10000, 8, 3),
            r"strip\.tif: 10000x10000 TIFF at 8-bit, 3 channels decodes to 300 MB, and its decoder needs 700 MB more "
            r"\(strips of 10000 rows\): 1,000 MB, over the 400 MB limit; downscale it or save it as a baseline JPEG "
            r"or PNG$")
    with io.BytesIO(tiff("II", 10000, 10000, 8, 3, tags=((278, 4, 1, 64),))) as f:
        assert read_header(f).peak_bytes == 300_000_000 + 10000 * 64 * 7 <= image.MAX_DECODED_BYTES
    tiles = ((322, 4, 1, 2048), (323, 4, 1, 2048), (324, 4, 1, 512), (325, 4, 1, 64), (338, 3, 1, 2))
    refused(tmp_path / "tiles.tif", tiff("II", 7000, 7000, 16, 4, tags=tiles),
            r"7000x7000 TIFF at 16-bit, 4 channels decodes to 392 MB, and its decoder needs 34 MB more \(2048x2048 "
            r"tiles\): 426 MB, over the 400 MB limit")


def jpeg(code: int, width: int, height: int, sampling: list[int], first_scan: int | None = None) -> bytes:
    """A JPEG's frame (SOF `code`: its components' sampling factors as 0xHV) and its first scan's header (SOS of
    `first_scan` components, all by default), nothing of the pixels."""
    components = b"".join(bytes([i + 1, hv, 0]) for i, hv in enumerate(sampling))
    frame = struct.pack(">BHHB", 8, height, width, len(sampling)) + components
    scanned = len(sampling) if first_scan is None else first_scan
    scan = bytes([scanned]) + b"".join(bytes([i + 1, 0]) for i in range(scanned)) + b"\0\x3f\0"
    return (b"\xff\xd8" + bytes([0xFF, code]) + (len(frame) + 2).to_bytes(2, "big") + frame + b"\xff\xc4\0\x02"
            + b"\xff\xda" + (len(scan) + 2).to_bytes(2, "big") + scan + b"\0" * 64 + b"\xff\xd9")


@pytest.mark.parametrize("code", [0xC2, 0xC6, 0xCA, 0xCE])
def test_a_progressive_jpeg_counts_its_coefficients_against_the_byte_limit(tmp_path, code):
    """A 10000x10000 progressive CMYK JPEG at the 400 MB limit took 1.23 GB: libjpeg keeps every coefficient,
    2 bytes a sample, until the last scan."""
    refused(tmp_path / "cmyk.jpg", jpeg(code, 10000, 10000, [0x11] * 4),
            r"cmyk\.jpg: 10000x10000 JPEG at 8-bit, 4 channels decodes to 400 MB, and its decoder needs 800 MB more "
            r"\(decoded in many scans: every coefficient kept to the last\): 1,200 MB, over the 400 MB limit; "
            r"downscale it or save it as a baseline JPEG or PNG$")
    refused(tmp_path / "444.jpg", jpeg(code, 10000, 10000, [0x11] * 3),  # progressive 4:4:4 RGB took 1.03 GB
            r"decodes to 300 MB, and its decoder needs 600 MB more .*: 900 MB, over the 400 MB limit")


def test_a_jpeg_s_coefficients_are_counted_at_its_sampling_and_only_when_it_has_many_scans(tmp_path):
    def header(blob: bytes):
        with io.BytesIO(blob) as f:
            return read_header(f)

    assert header(jpeg(0xC0, 10000, 10000, [0x11] * 3)).work_bytes == 0  # one scan: decoded row by row
    refused(tmp_path / "scans.jpg", jpeg(0xC0, 10000, 10000, [0x11] * 3, first_scan=1),  # a scan per component
            r"decodes to 300 MB, and its decoder needs 600 MB more .*: 900 MB")  # (1.04 GB from jpegtran -scans)
    # 4:2:0: the luma's 1000x1000 blocks and two chroma planes of 500x500, 192 MB, beside a 192 MB picture: taken
    assert header(jpeg(0xC2, 8000, 8000, [0x22, 0x11, 0x11])).peak_bytes == 384_000_000
    assert header(jpeg(0xC2, 8000, 8000, [0x22, 0x11, 0x11])).peak_bytes <= image.MAX_DECODED_BYTES
    path = tmp_path / "small.jpg"  # a real one: 40x24 at 4:2:0, luma 6x4 blocks (whole 16x16 units), chroma 3x2
    Image.new("RGB", (40, 24), (200, 30, 30)).save(path, progressive=True, subsampling=2)
    with path.open("rb") as f:
        assert read_header(f).work_bytes == 128 * (6 * 4 + 2 * 3 * 2)
    assert read_image(path).shape == (24, 40, 3)


def test_a_gif_or_an_animated_webp_counts_its_canvases_against_the_byte_limit(tmp_path):
    """A 10000x10000 GIF took 939 MB (a BGRA canvas and a byte a pixel of codes beside the picture), a 9000x9000
    animated WebP 1.1 GB (libwebp's canvas and the previous one)."""
    refused(tmp_path / "big.gif", b"GIF89a" + struct.pack("<HH", 6000, 6000) + b"\0" * 64,
            r"6000x6000 GIF at 8-bit, 4 channels decodes to 144 MB, and its decoder needs 324 MB more \(a GIF's "
            r"canvas and codes\): 468 MB, over the 400 MB limit")
    size = (8999).to_bytes(3, "little") * 2
    refused(tmp_path / "anim.webp", b"RIFF\0\0\0\0WEBPVP8X" + (10).to_bytes(4, "little") + b"\x12\0\0\0" + size,
            r"9000x9000 WebP at 8-bit, 4 channels decodes to 324 MB, and its decoder needs 648 MB more \(an animated "
            r"WebP's canvases\): 972 MB, over the 400 MB limit")
    with io.BytesIO(b"RIFF\0\0\0\0WEBPVP8X" + (10).to_bytes(4, "little") + b"\x10\0\0\0" + size) as f:
        assert read_header(f).peak_bytes == 324_000_000  # a still one is decoded straight into the picture


# --- whole files: stat before read -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["big.onnx", "big.tflite"])
def test_info_on_a_1_2_gb_model_file_refuses_it_from_its_size(tmp_path, name):
    """`info` read a 1.2 GB file whole (1.3 GB) before refusing it."""
    path = sparse(tmp_path / name)
    if name.endswith(".tflite"):
        with path.open("r+b") as f:
            f.write(b"\0\0\0\0TFL3")
    got = runner.invoke(app, ["info", "--model", str(path)])
    assert got.exit_code == 4 and "Traceback" not in got.output
    (line,) = got.stderr.splitlines()
    assert line.startswith("error: ") and str(path) in line and "1,200 MB" in line and "200 MB" in line


def test_a_1_2_gb_photo_is_refused_from_its_size_before_it_is_hashed(tmp_path):
    """`evaluate --photos` hashed a 1.2 GB file whole before its 256 MB check."""
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("pants", "hat"))
    huge = sparse(photos / "pants" / "huge.jpg")
    got: list = []
    peak = traced_peak(lambda: got.append(load_photos(photos, cache=tmp_path / "cache", workers=1)))
    (photo_set,) = got
    assert peak < 50_000_000 and len(photo_set) == 2
    (skipped,) = photo_set.skipped  # and nothing of it was read: Python never held more than 50 MB
    assert skipped == (huge, f"{huge}: 1,200 MB, over the 256 MB an image may take; downscale it first")


@pytest.mark.slow
def test_evaluate_names_each_photo_it_leaves_out(tmp_path):
    """The dropped photo was left out of the figures without a word."""
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("pants", "hat"))
    sparse(photos / "pants" / "huge.jpg")
    (photos / "hat" / "notes.jpg").write_text("a text file named like a photo")
    got = runner.invoke(app, ["evaluate", "--model", "edge", "--photos", str(photos), "--json"])
    assert got.exit_code == 0, got.output
    assert sorted(got.stderr.splitlines()) == [
        f"warning: left out of the photo figures: {photos}/hat/notes.jpg: not an image fmnist reads: it is not a JPEG, "
        "PNG, TIFF, WebP, BMP or GIF; save it as JPEG or PNG",
        f"warning: left out of the photo figures: {photos}/pants/huge.jpg: 1,200 MB, over the 256 MB an image may "
        "take; downscale it first"]


def test_a_photo_cache_entry_that_declares_a_huge_array_is_redone(tmp_path):
    """A damaged cache entry's .npy header could declare any shape: an entry is read only when its header is the one
    a row has and its length the row's, never allocated from what it declares."""
    photo = make_tree(tmp_path / "photos", per_class=1, classes=("pants",)) / "pants" / "0.jpg"
    fresh = _prepare(photo, tmp_path / "cache", CUTOUT, LargeTurns())
    entry = next((tmp_path / "cache").rglob("*.npy"))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10**12,)})
    entry.write_bytes(header.getvalue() + b"\0" * 64)
    again = _prepare(photo, tmp_path / "cache", CUTOUT, LargeTurns())
    assert not again[2] and np.array_equal(again[0], fresh[0])  # redone, the same
    assert _prepare(photo, tmp_path / "cache", CUTOUT, LargeTurns())[2]  # and cached again
    assert np.array_equal(np.load(entry)[:-1].reshape(fresh[0].shape), fresh[0])  # a .npy file, as np.save writes
    entry.write_bytes(entry.read_bytes() + b"\0")  # one byte too long: damaged too
    assert not _prepare(photo, tmp_path / "cache", CUTOUT, LargeTurns())[2]
    entry.unlink()
    os.mkfifo(entry)  # a FIFO under an entry's name: not waited on, replaced by the entry
    assert not _prepare(photo, tmp_path / "cache", CUTOUT, LargeTurns())[2] and entry.is_file()
    entry.unlink()
    entry.mkdir()  # a folder under an entry's name opens, and cannot be replaced: no descriptor is left open
    before = len(os.listdir("/proc/self/fd"))
    assert not any(_prepare(photo, tmp_path / "cache", CUTOUT, LargeTurns())[2] for _ in range(5))
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_run_card_or_photo_map_over_its_limit_is_refused_from_its_size(tmp_path):
    sparse(tmp_path / "metrics.json")
    with pytest.raises(ModelError, match=r"metrics\.json: 1,200 MB, over the 10 MB a run card may take; train"):
        RunCard.read(tmp_path)
    with pytest.raises(UsageError, match=r"map\.json: 1,200 MB, over the 1 MB a photo map may take"):
        PhotoMap.load(sparse(tmp_path / "map.json"))


@pytest.mark.slow
def test_an_idx_file_over_its_limit_or_a_gzip_bomb_is_refused_before_it_is_inflated(tmp_path):
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: 1,200 MB, over the 64 MB a Fashion-MNIST file"):
        fashion.read_idx(sparse(tmp_path / "t10k-labels-idx1-ubyte"), fashion.LABELS_MAGIC)
    bomb = tmp_path / "t10k-images-idx3-ubyte.gz"
    deflate = zlib.compressobj(1, wbits=16 + zlib.MAX_WBITS)  # 300 MB of zeros, gzipped to 300 KB
    bomb.write_bytes(b"".join(deflate.compress(bytes(2**20)) for _ in range(300)) + deflate.flush())

    def inflate() -> None:
        with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz inflates to over 64 MB, more than"):
            fashion.read_idx(bomb, fashion.IMAGES_MAGIC)

    assert traced_peak(inflate) < 150_000_000  # inflated to the limit (and joined), then stopped


# --- npz members: the declared shape against the member's size ----------------------------------------------------

def npy(array: np.ndarray, shape: tuple[int, ...] | None = None) -> bytes:
    """An .npy member whose header declares `shape` (default: the array's own) over the array's bytes."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(array.dtype),
                                               "fortran_order": False, "shape": shape or array.shape})
    return out.getvalue() + array.tobytes()


def npz(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)


@pytest.mark.parametrize("shape", [(10**12, 28, 28), (5, 28, 28), (3, 28, 28)])
def test_own_data_whose_header_declares_another_size_is_one_error_line(tmp_path, shape):
    """10^12 images declared in a few KB was a MemoryError traceback; one more or one fewer than held is refused."""
    path = model(tmp_path / "m.onnx", meta_text(labels=["mug", "cup"]), width=2)
    images = np.zeros((4, 28, 28), np.uint8)
    npz(tmp_path / "own_data.npz", {"heldout_images": npy(images, shape), "heldout_labels": npy(np.zeros(4, np.int64)),
                                    "heldout_empty": npy(np.zeros(4, bool)), "calib_images": npy(images)})
    got = runner.invoke(app, ["evaluate", "--model", str(path)])
    assert got.exit_code == 4 and "Traceback" not in got.output
    (line,) = got.stderr.splitlines()
    assert line == (f"error: {tmp_path}/own_data.npz: heldout_images declares a {shape} uint8 array "
                    f"({math.prod(shape):,} bytes), but holds 3,136 bytes; train the model again "
                    "with fmnist train-own")


def test_calib_data_whose_header_declares_10_12_images_is_one_error_line(tmp_path):
    from crafted import crop_record

    path = model(tmp_path / "m.onnx", meta_text(preprocess=crop_record()), side=32, channels=3)
    npz(tmp_path / "calib_data.npz", {"calib_images": npy(np.zeros((2, 32, 32, 3), np.uint8), (10**12, 32, 32, 3))})
    got = runner.invoke(app, ["evaluate", "--model", str(path)])
    assert got.exit_code == 4 and "Traceback" not in got.output
    assert got.stderr.startswith(f"error: {tmp_path}/calib_data.npz: calib_images declares a (1000000000000, 32, 32, "
                                 "3) uint8 array")


# --- the .pth opcode check in linear time ---------------------------------------------------------------------------

def marks(count: int) -> bytes:
    """A pickle of `count` MARKs then as many POP_MARKs: each POP_MARK searched the whole stack (29 s at 200 KB)."""
    return b"\x80\x02" + b"(" * count + b"1" * count + b"N."


@pytest.mark.slow
def test_a_200_kb_pickle_of_marks_is_scanned_and_refused_at_once(tmp_path):
    path = tmp_path / "marks.pth"
    path.write_bytes(marks(MAX_PICKLE_OPS // 2 - 10))  # 200 KB, under the opcode cap: scanned to the end
    with pytest.raises(BadWeightsFile, match="not a legacy PyTorch weights file"):
        load_state_dict(path)
    for count in (MAX_PICKLE_OPS // 2 + 10, 1_000_000):  # 200 KB and 2 MB, over the cap
        path.write_bytes(marks(count))
        with pytest.raises(BadWeightsFile, match=f"a pickle of more than {MAX_PICKLE_OPS} opcodes"):
            load_state_dict(path)


def test_a_pth_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "weights.pth"
    os.mkfifo(fifo)
    with pytest.raises(BadWeightsFile, match="not a regular file"):
        load_state_dict(fifo)


def patched_headers(path: Path, flags: int = 0, method: int | None = None) -> None:
    """Every member of the zip at `path` marked with `flags` (bit 0: encrypted) or the compression `method`, in its
    local header and its central directory entry alike."""
    data = bytearray(path.read_bytes())
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # where the flags are; the method follows
        start = data.find(signature)
        while start >= 0:
            data[start + at] |= flags
            if method is not None:
                data[start + at + 2 : start + at + 4] = method.to_bytes(2, "little")
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


NOT_A_RUN = "{own} is not a run's own_data.npz ("
METHOD = "cannot load {own} as a run's own_data.npz: its member 'heldout_images.npy' is "


@pytest.mark.parametrize("damage, error", [
    ({"flags": 1}, NOT_A_RUN + "RuntimeError: File 'heldout_images.npy' is encrypted"),
    ({"method": 9}, METHOD + "compressed by method 9, not stored or deflated"),  # deflate64
    ({"method": 99}, METHOD + "compressed by method 99, not stored or deflated"),  # AES
    ({"method": 8, "first": 7}, NOT_A_RUN + "error: Error -3 while decompressing data"),  # a reserved block type
    ({"method": 12}, METHOD + "bzip2, not stored or deflated"),  # zipfile inflates a bzip2 member whole
    ({"first": 0}, NOT_A_RUN + "BadZipFile: Bad CRC-32 for file 'heldout_images.npy'"),  # changed after its CRC
])
def test_own_data_that_cannot_be_read_as_a_zip_is_one_error_line(tmp_path, damage, error):
    """An encrypted member was a RuntimeError traceback, a method zipfile lacks a NotImplementedError one; a method
    numpy cannot read a chunk at a time is refused before it is read (fmnist.core.zip_archive)."""
    path = model(tmp_path / "m.onnx", meta_text(labels=["mug", "cup"]), width=2)
    images, own = np.zeros((4, 28, 28), np.uint8), tmp_path / "own_data.npz"
    with zipfile.ZipFile(own, "w", zipfile.ZIP_STORED) as archive:
        for name, array in {"heldout_images": images, "heldout_labels": np.zeros(4, np.int64),
                            "heldout_empty": np.zeros(4, bool), "calib_images": images}.items():
            archive.writestr(f"{name}.npy", npy(array))
    if "first" in damage:  # the first member's first byte
        blob = own.read_bytes()
        at = blob.index(b"\x93NUMPY")
        own.write_bytes(blob[:at] + bytes([damage.pop("first")]) + blob[at + 1 :])
    patched_headers(own, **damage)
    got = runner.invoke(app, ["evaluate", "--model", str(path)])
    assert got.exit_code == 4 and "Traceback" not in got.output
    (line,) = got.stderr.splitlines()
    assert line.startswith("error: " + error.format(own=own)) and line.endswith(
        "; train the model again with fmnist train-own"), line


def test_own_data_whose_archive_lists_too_many_members_is_refused_before_its_directory_is_read(tmp_path):
    """zipfile makes an object for every member its directory lists before one is read: the count is told from the
    directory's end record (fmnist.core.zip_archive) and a run's .npz holds three arrays."""
    path = model(tmp_path / "m.onnx", meta_text(labels=["mug", "cup"]), width=2)
    own = tmp_path / "own_data.npz"
    with zipfile.ZipFile(own, "w") as archive:
        for n in range(MAX_NPZ_MEMBERS + 1):
            archive.writestr(f"{n}.npy", b"")
    got = runner.invoke(app, ["evaluate", "--model", str(path)])
    assert got.exit_code == 4 and "Traceback" not in got.output
    assert got.stderr == (f"error: cannot load {own} as a run's own_data.npz: its archive lists "
                          f"{MAX_NPZ_MEMBERS + 1} members, more than the {MAX_NPZ_MEMBERS} a run's own_data.npz may "
                          "hold; train the model again with fmnist train-own\n")


def test_own_data_reads_each_array_from_its_npy_member_only(tmp_path):
    """np.load's NpzFile gives a member named exactly `heldout_images` before `heldout_images.npy`: such a member,
    which the checks never saw, is not read (it was an AttributeError traceback, or gigabytes for one that deflates
    far)."""
    path = model(tmp_path / "m.onnx", meta_text(labels=["mug", "cup"]), width=2)
    own = tmp_path / "own_data.npz"
    images = np.zeros((4, 28, 28), np.uint8)
    with zipfile.ZipFile(own, "w", zipfile.ZIP_STORED) as archive:
        for name, array in {"heldout_images": images, "heldout_labels": np.array([0, 1, 0, 1]),
                            "calib_images": images}.items():
            archive.writestr(f"{name}.npy", npy(array))
        archive.writestr("heldout_images", b"not an array")
    got = runner.invoke(app, ["evaluate", "--model", str(path), "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["n"] == 4
