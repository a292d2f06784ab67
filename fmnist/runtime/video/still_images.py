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
- a source whose codec has no tag (FOURCC 0: raw video, and the image pipes FFmpeg chooses by a file's first
  bytes, which open at their first image's size): if its first packet is an image fmnist reads, of the size the
  source opened at, it is read as packets; a local file is otherwise raw video only in a container that holds video
  (AVI, Matroska, MP4/MOV, NUT, Y4M: decoded, its frames the stream's size), and refused if it is anything else
  (PPM, XWD, XBM, HDR... images); a stream is decoded (a known limit: fmnist cannot look at its bytes);
- OpenCV's own image-sequence reader (CV_IMAGES), which takes a sequence FFmpeg does not open, decodes each file at
  any size: refused.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import cv2
import numpy as np

from fmnist.core.errors import SourceError, escaped
from fmnist.runtime.image_header import HeaderError, read_header
from fmnist.runtime.video.frame_limits import packet_header, size_error

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
# image2's frame number in a name (av_get_frame_filename): % and digits, then d for the number (zero-padded, in a
# 20-byte buffer) or % for a %; any other character, or a second number, and the name is no sequence
_TOKEN = re.compile(r"%([0-9]*)(.?)", re.DOTALL)  # ASCII digits only, as FFmpeg's
MAX_WIDTH = 19
FIRST_NUMBERS = range(5)  # where image2 looks for a sequence's first file (its start_number_range)
# the first bytes of the containers that hold raw video (FOURCC 0): AVI, Matroska/WebM, Y4M, NUT, and the first boxes
# of MP4/MOV files (not `skip`, which a PPM's comment line spells)
_VIDEO_CONTAINER = re.compile(rb"RIFF....AVI[ X]|\x1a\x45\xdf\xa3|YUV4MPEG2|nut/multimedia container"
                              rb"|....(?:ftyp|moov|mdat|wide|free|pnot|junk|pict|udta|uuid|prfl)", re.DOTALL)


def suffix(name: str) -> str:
    """The lower-case extension of a file's name ('' if none)."""
    return PurePosixPath(name).suffix.lower().lstrip(".")


def is_sequence(name: str) -> bool:
    """Does image2 read `name` as a numbered sequence (one frame number, %d or %03d; av_filename_number_test)?"""
    return numbered(name, 0) is not None


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
    for number in FIRST_NUMBERS:
        candidate = numbered(name, number)
        if candidate is not None and os.path.isfile(candidate):
            return candidate
    return None


def numbered(name: str, number: int) -> str | None:
    """`name` with its frame number as `number` and each %% (or %N%) as %, as FFmpeg writes it; None if `name` is
    no sequence, or its number is wider than FFmpeg writes one."""
    parts, found, at = [], False, 0
    for m in _TOKEN.finditer(name):
        digits, kind = m.group(1), m.group(2)
        parts.append(name[at : m.start()])
        at = m.end()
        if kind == "%":
            parts.append("%")
        elif kind == "d" and not found and len(digits.lstrip("0")) <= 2 and int(digits or 0) <= MAX_WIDTH:
            found = True
            parts.append(str(number).zfill(int(digits or 0)))
        else:
            return None
    return "".join([*parts, name[at:]]) if found else None


def reads_as_packets(capture: cv2.VideoCapture) -> bool:
    """Is an opened source's codec a still-image one fmnist checks (by its tag)? One whose images fmnist cannot check
    (by tag, or any OpenCV's own reader decodes) is a SourceError."""
    backend = capture.getBackendName()
    if backend == "CV_IMAGES":
        raise SourceError(f"its frames are image files OpenCV decodes whatever their size; {CONVERT}")
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
    """Is an untagged source's first packet, the source opened at `width` x `height`, an image whose header fmnist
    reads, of that size (read the source as packets)? Raw video's first bytes may look like a header of any size."""
    header = packet_header(packet)
    return header is not None and (header.width, header.height) == (width, height)


def check_video_container(path: str) -> None:
    """A SourceError unless a local untagged source that is no image fmnist reads is a container of raw video."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:  # no file of that name: a sequence fmnist did not take for one
        head = b""
    if not _VIDEO_CONTAINER.match(head):
        raise SourceError("its frames have no codec tag and it is no video container fmnist knows (AVI, Matroska, "
                          "MP4, NUT, Y4M): still images of a format whose header fmnist does not read, each of any "
                          f"size; {CONVERT}")
