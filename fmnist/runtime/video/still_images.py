"""Which sources' frames are still images, each of any size, and which of those fmnist can read as packets whose
header it checks before they are decoded (fmnist.runtime.video.frame_limits.decode_packet).

FFmpeg decodes a still image at the size its own header declares, whatever size the source opened at, and OpenCV
sets no bound on it: a 1 KB run-length BMP declaring 16000x16000 in a BMP sequence took a 405 MB peak. So:
- by codec tag (OpenCV's FOURCC): MJPEG, PNG, TIFF and WebP frames are read as packets; JPEG 2000, TGA, SGI and DPX
  frames, whose headers fmnist does not read, are refused;
- by name: FFmpeg's image2 demuxer (an image sequence `img_%03d.ppm`, or one image file) picks its codec from the
  name's extension, whatever a file holds, so a .bmp name is read as packets and the extensions of other still-image
  codecs (PPM, PFM, Radiance HDR, QOI, Sun raster, EXR...) are refused before anything opens; and as FFmpeg decodes
  the first image while it opens, the first file of a name fmnist reads has its header checked before that;
- by the first packet, for a source whose codec has no tag (FOURCC 0: raw video, and the image pipes FFmpeg chooses
  by a file's first bytes): an image fmnist reads (a BMP) is read as packets, one that starts as a still image of
  another codec is refused, and anything else is raw video, decoded (its frames have the stream's size);
- OpenCV's own image-sequence reader (CV_IMAGES: GIF or AVIF sequences) decodes each file at any size: refused.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import cv2
import numpy as np

from fmnist.core.errors import SourceError, escaped
from fmnist.runtime.image_header import HeaderError, read_header
from fmnist.runtime.video.frame_limits import size_error

CONVERT = "convert it to MJPEG or PNG frames"
# still-image codecs as OpenCV's FFmpeg backend names them: each packet is a whole image, of any size
CHECKED_CODECS = {cv2.VideoWriter_fourcc(*name) for name in ("MJPG", "MPNG", "tiff", "webp")}
UNCHECKED_CODECS = {
    **{cv2.VideoWriter_fourcc(*name): "JPEG 2000" for name in ("mjp2", "MJ2C", "LJ2C", "LJ2K", "IPJ2")},
    **{cv2.VideoWriter_fourcc(*name): name.strip().upper() for name in ("tga ", "sgi ", "dpx ")},
}
UNTAGGED = 0  # OpenCV's FOURCC for a codec with no tag: raw video, or a still-image codec (BMP, PPM, HDR...)
# the extensions FFmpeg's image2 demuxer maps to a still-image codec whose header fmnist does not read
# (libavformat/img2.c); .bmp is read as packets (PACKET_SUFFIXES), JPEG, PNG, TIFF and WebP by their tag
UNCHECKED_SUFFIXES = frozenset({
    "ljpg", "jls", "ppm", "pnm", "pgm", "pgmyuv", "pbm", "pam", "pfm", "phm", "cri", "pix", "dds", "tga", "sgi", "ptx",
    "pcd", "pcx", "pic", "sun", "ras", "rs", "im1", "im8", "im24", "im32", "sunras", "svg", "svgz", "j2c", "jp2", "jpc",
    "j2k", "dpx", "exr", "yuv10", "xbm", "xpm", "xface", "xwd", "img", "ximg", "timg", "vbn", "jxl", "qoi", "hdr",
    "wbmp"})
PACKET_SUFFIXES = frozenset({"bmp"})
# the extensions image2 maps to the codecs fmnist reads the headers of: JPEG, PNG, TIFF, WebP, BMP
READ_SUFFIXES = frozenset({"jpeg", "jpg", "jps", "mpo", "png", "pns", "tif", "tiff", "dng", "webp", *PACKET_SUFFIXES})
# image2's frame number in a name, and %% for a % (av_get_frame_filename): zero-padded, in FFmpeg's 20-byte buffer
_TOKEN = re.compile(r"%%|%(\d*)d")
MAX_WIDTH = 19
FIRST_NUMBERS = range(5)  # where image2 looks for a sequence's first file (its start_number_range)
# how FFmpeg's image pipes (ppm_pipe, hdr_pipe...) know an untagged still image by its first bytes: PNM/PAM/PFM/PHM,
# Radiance HDR, QOI, Sun raster, DPX, EXR, DDS, PSD, XBM, XPM, SVG, JPEG XL's container, JPEG 2000 (a marker of at
# least three bytes: raw video's first pixels are as likely to be anything)
_STILL_MAGIC = re.compile(
    rb"P[1-7FfHh]\s|#\?(?:RADIANCE|RGBE)|qoif|\x59\xa6\x6a\x95|SDPX|XPDS|\x76\x2f\x31\x01|DDS |8BPS|#define"
    rb"|/\* XPM \*/|<svg|<\?xml|\x00\x00\x00\x0cJXL |\x00\x00\x00\x0cjP  |\xff\x4f\xff\x51")


def suffix(name: str, stream: bool) -> str:
    """The lower-case extension FFmpeg sees in a file's name or a stream URL's path ('' if none)."""
    path = urlsplit(name).path if stream else name
    return PurePosixPath(path).suffix.lower().lstrip(".")


def check_name(source: str, name: str, stream: bool) -> None:
    """Before anything opens: a SourceError for a name FFmpeg would read as images of a codec whose header fmnist
    does not read, or for an image file (a sequence's first) over the frame limit, which FFmpeg would decode to open
    it."""
    found = suffix(name, stream)
    if found in UNCHECKED_SUFFIXES:
        raise SourceError(f"--source {escaped(source)}: its frames are .{found} images, each of any size, whose "
                          f"headers fmnist does not read; {CONVERT}")
    first = first_file(name) if found in READ_SUFFIXES and not stream else None
    if first is None:
        return
    try:
        with open(first, "rb") as f:
            header = read_header(f)
    except (OSError, HeaderError):  # left to the open, which says what it could not read
        return
    error = size_error(f"--source {escaped(source)}", header.width, header.height)
    if error:
        raise error


def first_file(name: str) -> str | None:
    """The file image2 reads first for `name`: itself, or for a sequence (img_%03d.png) the first of its numbers
    0-4 that is a file; None if there is none."""
    widths = [m.group(1) for m in _TOKEN.finditer(name) if m.group(0) != "%%"]
    if not widths:
        return name if os.path.isfile(name) else None
    if len(widths[0]) > 2 or int(widths[0] or 0) > MAX_WIDTH:
        return None
    for number in FIRST_NUMBERS:
        candidate = _numbered(name, number)
        if os.path.isfile(candidate):
            return candidate
    return None


def _numbered(name: str, number: int) -> str:
    """`name` with its first frame number as `number` and each %% as %."""
    used = False

    def one(m: re.Match[str]) -> str:
        nonlocal used
        if m.group(0) == "%%" or used:
            return "%" if m.group(0) == "%%" else m.group(0)
        used = True
        return str(number).zfill(int(m.group(1) or 0))

    return _TOKEN.sub(one, name)


def reads_as_packets(capture: cv2.VideoCapture) -> bool:
    """Is an opened source's codec a still-image one fmnist checks (by its tag)? One whose images fmnist cannot check
    (by tag, or any OpenCV's own reader decodes) is a SourceError."""
    backend = capture.getBackendName()
    if backend == "CV_IMAGES":
        raise SourceError("its frames are image files OpenCV decodes whatever their size (a GIF or AVIF sequence); "
                          f"{CONVERT}")
    if backend != "FFMPEG":
        return False
    codec = int(capture.get(cv2.CAP_PROP_FOURCC))
    if codec in UNCHECKED_CODECS:
        raise SourceError(f"its frames are {UNCHECKED_CODECS[codec]} images, each of any size, whose headers fmnist "
                          f"does not read; {CONVERT}")
    return codec in CHECKED_CODECS


def untagged(capture: cv2.VideoCapture) -> bool:
    """Does FFmpeg name no codec tag for an opened source (raw video, or a still image such as BMP or PPM)?"""
    opened = capture.isOpened() and capture.getBackendName() == "FFMPEG"
    return opened and int(capture.get(cv2.CAP_PROP_FOURCC)) == UNTAGGED


def first_packet_is_image(packet: np.ndarray) -> bool:
    """An untagged source's first packet: an image whose header fmnist reads (True: read the source as packets), or
    raw video (False: decoded). One that starts as a still image of another codec is a SourceError."""
    data = packet.tobytes()
    try:
        read_header(io.BytesIO(data))
        return True
    except HeaderError:
        pass
    if _STILL_MAGIC.match(data):
        raise SourceError(f"its frames are still images in a format whose header fmnist does not read (PPM, PFM, "
                          f"Radiance HDR, QOI...: each of any size); {CONVERT}")
    return False
