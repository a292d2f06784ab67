"""Which sources' frames are still images, each of any size, and which of those fmnist can read as packets whose
header it checks before they are decoded (fmnist.runtime.video.frame_limits.decode_packet).

FFmpeg decodes a still image at the size its own header declares, whatever size the source opened at, and OpenCV
sets no bound on it: a 1 KB run-length BMP declaring 16000x16000 in a BMP sequence took a 405 MB peak. So:
- by codec tag (OpenCV's FOURCC): MJPEG, PNG, TIFF and WebP frames are read as packets; JPEG 2000, JPEG-LS, TGA,
  SGI and DPX frames, whose headers fmnist does not read, are refused;
- by name: FFmpeg's image2 demuxer reads an image sequence (`img_%03d.bmp`) with the codec its extension names,
  whatever the files hold: a sequence of JPEG, PNG, TIFF, WebP or BMP files is read as packets, any other is refused
  before anything opens. FFmpeg decodes the first image while it opens a source, so a local file, or a sequence's
  first file, that is an image fmnist reads has its header checked before that;
- by the first packet, for a source whose codec has no tag (FOURCC 0: raw video, and the image pipes FFmpeg chooses
  by a file's first bytes, which open at their first image's size): an image fmnist reads, of the size the source
  opened at, is read as packets; a PNM (PPM, PFM...) of that size, or bytes that start as another still image
  (Radiance HDR, QOI, Sun raster...), are refused; anything else is raw video, decoded (its frames have the stream's
  size);
- OpenCV's own image-sequence reader (CV_IMAGES: GIF or AVIF sequences) decodes each file at any size: refused.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import PurePosixPath

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
    cv2.VideoWriter_fourcc(*"MJLS"): "JPEG-LS",
}
UNTAGGED = 0  # OpenCV's FOURCC for a codec with no tag: raw video, or a still-image codec (BMP, PPM, HDR...)
# the extensions image2 maps to the codecs fmnist reads the headers of (libavformat/img2.c): JPEG, PNG, TIFF, WebP, BMP
SEQUENCE_SUFFIXES = frozenset({"jpeg", "jpg", "jps", "mpo", "png", "pns", "tif", "tiff", "dng", "webp", "bmp"})
PACKET_SUFFIXES = frozenset({"bmp"})  # untagged, so read as packets by name
# image2's frame number in a name, and %% for a % (av_get_frame_filename): zero-padded, in FFmpeg's 20-byte buffer
_TOKEN = re.compile(r"%%|%(\d*)d")
MAX_WIDTH = 19
FIRST_NUMBERS = range(5)  # where image2 looks for a sequence's first file (its start_number_range)
HEAD_BYTES = 4096  # of a packet, searched for a PNM header
# a PNM's size (P1-P6, PFM's PF/Pf, PHM's PH/Ph; comments between), and PAM's (P7) WIDTH and HEIGHT lines
_PNM = re.compile(rb"P[1-6FfHh]\s+(?:#[^\n]*\n\s*)*(\d{1,9})\s+(?:#[^\n]*\n\s*)*(\d{1,9})\s")
_PAM = re.compile(rb"P7\s(?=.*?WIDTH\s+(\d{1,9}))(?=.*?HEIGHT\s+(\d{1,9}))", re.DOTALL)
# how FFmpeg's image pipes (hdr_pipe, qoi_pipe...) know other untagged still images by their first bytes: Radiance
# HDR, QOI, Sun raster, DPX, EXR, DDS, PSD, XBM, XPM, SVG, JPEG XL's container, JPEG 2000 (markers of four bytes or
# more: raw video's first pixels could be anything)
_STILL_MAGIC = re.compile(
    rb"#\?(?:RADIANCE|RGBE)|qoif|\x59\xa6\x6a\x95|SDPX|XPDS|\x76\x2f\x31\x01|DDS |8BPS|#define"
    rb"|/\* XPM \*/|<svg|<\?xml|\x00\x00\x00\x0cJXL |\x00\x00\x00\x0cjP  |\xff\x4f\xff\x51")


def suffix(name: str) -> str:
    """The lower-case extension of a file's name ('' if none)."""
    return PurePosixPath(name).suffix.lower().lstrip(".")


def is_sequence(name: str) -> bool:
    """Does image2 read `name` as a numbered sequence (one frame number, %d or %03d; av_filename_number_test)?"""
    return len([m for m in _TOKEN.finditer(name) if m.group(0) != "%%"]) == 1


def check_name(source: str, name: str) -> None:
    """Before a file source opens: a SourceError for an image sequence of a codec whose header fmnist does not read,
    or for a local image (a sequence's first file) over the frame limit, which FFmpeg would decode to open it."""
    sequence = is_sequence(name)
    if sequence and suffix(name) not in SEQUENCE_SUFFIXES:
        raise SourceError(f"--source {escaped(source)}: its frames are .{suffix(name)} files: fmnist reads image "
                          "sequences of JPEG, PNG, TIFF, WebP or BMP files, whose headers it checks before they are "
                          f"decoded; {CONVERT}")
    first = first_numbered(name) if sequence else name if os.path.isfile(name) else None
    if first is None:
        return
    try:
        with open(first, "rb") as f:
            header = read_header(f)
    except (OSError, HeaderError):  # not an image fmnist reads (a video), or left to the open to report
        return
    error = size_error(f"--source {escaped(source)}", header.width, header.height)
    if error:
        raise error


def first_numbered(name: str) -> str | None:
    """The file image2 reads first for a sequence (img_%03d.png): the first of its numbers 0-4 that is a file."""
    width = next(m.group(1) for m in _TOKEN.finditer(name) if m.group(0) != "%%")
    if len(width) > 9 or int(width or 0) > MAX_WIDTH:
        return None
    for number in FIRST_NUMBERS:
        candidate = _numbered(name, number)
        if os.path.isfile(candidate):
            return candidate
    return None


def _numbered(name: str, number: int) -> str:
    """`name` with its frame number as `number` and each %% as %."""

    def one(m: re.Match[str]) -> str:
        return "%" if m.group(0) == "%%" else str(number).zfill(int(m.group(1) or 0))

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


def first_packet_is_image(packet: np.ndarray, width: int, height: int) -> bool:
    """An untagged source's first packet, the source opened at `width` x `height`: an image whose header fmnist reads,
    of that size (True: read the source as packets), or raw video (False: decoded), whose first bytes may look like
    a header of any size. A PNM of that size, or bytes that start as another still image, are a SourceError."""
    data = packet.tobytes()
    try:
        header = read_header(io.BytesIO(data))
        return (header.width, header.height) == (width, height)
    except HeaderError:
        pass
    pnm = _PNM.match(data[:HEAD_BYTES]) or _PAM.match(data[:HEAD_BYTES])
    if (pnm and (int(pnm[1]), int(pnm[2])) == (width, height)) or _STILL_MAGIC.match(data):
        raise SourceError(f"its frames are still images in a format whose header fmnist does not read (PPM, PFM, "
                          f"Radiance HDR, QOI...: each of any size); {CONVERT}")
    return False
