"""How large a live frame may be, checked before the frame is allocated where fmnist can, and before anything of
fmnist's copies it everywhere.

- A source whose frames are larger is refused when it opens (OpenCV reports the size without decoding a frame).
- A source of still images (MJPEG: an IP camera's HTTP stream, an .avi of JPEGs; PNG-in-AVI or a PNG sequence,
  TIFF, WebP and BMP sequences; fmnist.runtime.video.still_images tells which) is read as packets (OpenCV's raw
  mode): each packet's image header is checked (fmnist.runtime.image_header) before fmnist decodes it
  (decode_packet), so a stream that sends one huge frame mid-way never decodes it. FFmpeg has its own limit, which
  OpenCV does not let a caller set (OPENCV_FFMPEG_CAPTURE_OPTIONS reaches the demuxer, not the decoder): a
  16000x16000 4:4:4 frame after 640x480 ones took 955 MB in FFmpeg's decoder, a 16-bit RGBA PNG one 2.16 GB.
- Any other frame is checked as it comes from OpenCV (whose FFmpeg backend keeps the size it opened at).
"""

from __future__ import annotations

import io

import cv2
import numpy as np

from fmnist.core.errors import SourceError, escaped
from fmnist.runtime.image_header import Header, HeaderError, read_header

# The largest frame live takes: a 24 MP camera (6000x4000) fits, 4K (8.3 MP) with room. Each frame is held several
# times over (OpenCV's buffer and its copy, the newest frame and the one in work, the annotated frame, the encoders of
# the recording and the preview): 24 MP frames took 830 MB with --serve, --record and --collect, 8K (33 MP) 1.04 GB,
# and 16000x16000 (256 MP) 3.4 GB, 4.4 GB with --serve and --record, before there was a limit.
MAX_FRAME_PIXELS = 24_000_000
MAX_FRAME_BYTES = MAX_FRAME_PIXELS * 3  # 8-bit BGR; a deeper frame, or a packet, counts its bytes


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


def packet_header(packet: np.ndarray) -> Header | None:
    """The image header a packet starts with; None for a packet that is not an image fmnist reads."""
    try:
        return read_header(io.BytesIO(packet.tobytes()))
    except HeaderError:
        return None


def decode_packet(packet: np.ndarray, source: str) -> np.ndarray | None:
    """One still-image packet (a JPEG, a PNG...) as a BGR frame, its size read from its header before it is decoded;
    None for a packet that is not a whole image (skipped, as FFmpeg's decoder would)."""
    what = f"a frame of --source {escaped(source)}"
    error = _bytes_error(what, packet.nbytes)
    if error:
        raise error
    header = packet_header(packet)
    if header is None:
        return None
    error = size_error(what, header.width, header.height)
    if error:
        raise error
    frame = cv2.imdecode(packet.reshape(-1), cv2.IMREAD_COLOR)
    return None if frame is None else check_frame(frame, source)
