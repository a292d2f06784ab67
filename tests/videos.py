"""Videos the tests write with cv2.VideoWriter."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def small_video(path: Path, frames: int, fps: float = 15.0) -> Path:
    """A grey 320x240 video with a dark box: cheap to write, and read frame for frame by live."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    image = np.full((240, 320, 3), 200, np.uint8)
    cv2.rectangle(image, (120, 60), (200, 180), (40, 40, 40), -1)
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path
