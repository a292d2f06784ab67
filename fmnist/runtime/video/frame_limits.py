"""How large a live frame may be, checked before the frame is allocated where fmnist can, and before anything of
fmnist's copies it everywhere.

- A source whose frames are larger is refused when it opens (OpenCV reports the size without decoding a frame).
- A source of still images (MJPEG: an IP camera's HTTP stream, an .avi of JPEGs; PNG-in-AVI or a PNG sequence,
  TIFF and WebP sequences) is read as packets (OpenCV's raw mode): each packet's image header is checked
  (fmnist.runtime.image_header) before fmnist decodes it, so a stream that sends one huge frame mid-way never
  decodes it. FFmpeg has its own limit, which OpenCV does not let a caller set (OPENCV_FFMPEG_CAPTURE_OPTIONS reaches
  the demuxer, not the decoder): a 16000x16000 4:4:4 frame after 640x480 ones took 955 MB in FFmpeg's decoder, a
  16-bit RGBA PNG one 2.16 GB. A still-image codec whose header fmnist does not read (JPEG 2000) is refused.
- OpenCV names no codec (FOURCC 0) for raw video and for BMP, PPM, PFM, Radiance HDR, TGA, Sun raster... frames,
  so such a source's first packet tells them apart (untagged_are_images): a BMP is read as checked packets, a packet
  that is one raw frame of the source's size is raw video (decoded: its size is the stream's), and anything else is
  a still image of a format whose header fmnist does not read: refused. So is a sequence OpenCV's own image reader
  (CV_IMAGES: GIF, AVIF, Sun raster sequences) would decode whatever its size.
- Any other frame is checked as it comes from OpenCV (whose FFmpeg backend keeps the size it opened at).
"""

from __future__ import annotations

import io

import cv2
import numpy as np

from fmnist.core.errors import SourceError, escaped
from fmnist.runtime.image_header import HeaderError, read_header

# The largest frame live takes: a 24 MP camera (6000x4000) fits, 4K (8.3 MP) with room. Each frame is held several
# times over (OpenCV's buffer and its copy, the newest frame and the one in work, the annotated frame, the encoders of
# the recording and the preview): 24 MP frames took 830 MB with --serve, --record and --collect, 8K (33 MP) 1.04 GB,
# and 16000x16000 (256 MP) 3.4 GB, 4.4 GB with --serve and --record, before there was a limit.
MAX_FRAME_PIXELS = 24_000_000
MAX_FRAME_BYTES = MAX_FRAME_PIXELS * 3  # 8-bit BGR; a deeper frame, or a packet, counts its bytes
MJPEG = cv2.VideoWriter_fourcc(*"MJPG")
# still-image codecs as OpenCV's FFmpeg backend names them: each packet is a whole image, of any size
CHECKED_CODECS = {MJPEG, *(cv2.VideoWriter_fourcc(*name) for name in ("MPNG", "tiff", "webp"))}
UNCHECKED_CODECS = {cv2.VideoWriter_fourcc(*name): "JPEG 2000" for name in ("mjp2", "MJ2C")}
UNTAGGED = 0  # OpenCV's FOURCC for a codec with no tag: raw video, or a still-image codec (BMP, PPM, TGA...)
# bytes a pixel of raw video may take (grey 8 to RGBA 16-bit; YUV 4:2:0 is 1.5), and the row alignments of AVI's DIBs
RAW_PIXEL_BYTES = (1, 2, 3, 4, 6, 8)
CONVERT = "convert it to MJPEG or PNG frames"


def size_error(what: str, width: int, height: int) -> SourceError | None:
    """The error for frames of this size, or None when live takes them."""
    if width * height <= MAX_FRAME_PIXELS:
        return None
    return SourceError(f"{what} is {width}x{height} ({width * height / 1e6:.0f} MP), over the "
                       f"{MAX_FRAME_PIXELS // 1_000_000} MP a live frame may have; lower the camera's or the "
                       "stream's resolution")


def _bytes_error(what: str, nbytes: int) -> SourceError | None:
    if nbytes <= MAX_FRAME_BYTES:
        return None
    return SourceError(f"{what} takes {nbytes / 1e6:.0f} MB, over the {MAX_FRAME_BYTES // 1_000_000} MB a live "
                       "frame may take")


def check_frame(frame: np.ndarray, source: str) -> np.ndarray:
    """The frame, if live takes it: at most MAX_FRAME_PIXELS and MAX_FRAME_BYTES."""
    what = f"a frame of --source {escaped(source)}"
    error = size_error(what, frame.shape[1], frame.shape[0]) or _bytes_error(what, frame.nbytes)
    if error:
        raise error
    return frame


def is_mjpeg(capture: cv2.VideoCapture) -> bool:
    """A source of still images opened by FFmpeg (MJPEG, PNG, TIFF, WebP), or one whose codec has no tag (untagged:
    its first packet tells): it can be read as image packets, each header-checked, instead. One whose images fmnist
    cannot check (JPEG 2000; any OpenCV decodes itself, CV_IMAGES) is refused."""
    backend = capture.getBackendName()
    if backend == "CV_IMAGES":
        raise SourceError("its frames are image files OpenCV decodes whatever their size (a GIF, AVIF or Sun raster "
                          f"sequence); {CONVERT}")
    if backend != "FFMPEG":
        return False
    codec = int(capture.get(cv2.CAP_PROP_FOURCC))
    if codec in UNCHECKED_CODECS:
        raise SourceError(f"its frames are {UNCHECKED_CODECS[codec]} images, each of any size, whose headers fmnist "
                          f"does not read; {CONVERT}")
    return codec in CHECKED_CODECS or codec == UNTAGGED


def untagged(capture: cv2.VideoCapture) -> bool:
    """Does FFmpeg name no codec tag for the source (raw video, or a still-image codec such as BMP or PPM)?"""
    return int(capture.get(cv2.CAP_PROP_FOURCC)) == UNTAGGED


def untagged_are_images(packet: np.ndarray, width: int, height: int) -> bool:
    """Is an untagged source's first packet a still image whose header fmnist reads (a BMP: True, read as checked
    packets), or one raw frame of the source's `width` x `height` (raw video: False, decoded, its frames the stream's
    size)? Anything else is a still image whose header fmnist does not read, each of any size: a SourceError."""
    data = packet.tobytes()
    try:
        read_header(io.BytesIO(data))
        return True
    except HeaderError:
        pass
    if len(data) in _raw_frame_bytes(width, height):
        return False
    raise SourceError(f"its frames are still images in a format whose header fmnist does not read (PPM, PFM, TGA, "
                      f"Radiance HDR...: each of any size); {CONVERT}")


def _raw_frame_bytes(width: int, height: int) -> set[int]:
    """The sizes one raw video frame of width x height may take: each pixel depth, rows packed or aligned to 4 bytes
    (a DIB in an AVI), and YUV 4:2:0 (its chroma at half width and height, rounded up)."""
    rows = {width * k for k in RAW_PIXEL_BYTES} | {(width * k + 3) // 4 * 4 for k in RAW_PIXEL_BYTES}
    return {height * row for row in rows} | {width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)}


def decode_packet(packet: np.ndarray, source: str) -> np.ndarray | None:
    """One still-image packet (a JPEG, a PNG...) as a BGR frame, its size read from its header before it is decoded;
    None for a packet that is not a whole image (skipped, as FFmpeg's decoder would)."""
    what = f"a frame of --source {escaped(source)}"
    error = _bytes_error(what, packet.nbytes)
    if error:
        raise error
    try:
        header = read_header(io.BytesIO(packet.tobytes()))
    except HeaderError:
        return None
    error = size_error(what, header.width, header.height)
    if error:
        raise error
    frame = cv2.imdecode(packet.reshape(-1), cv2.IMREAD_COLOR)
    return None if frame is None else check_frame(frame, source)
