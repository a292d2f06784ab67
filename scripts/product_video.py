#!/usr/bin/env python3
"""Write a 640x480 video of Fashion-MNIST test images held in front of a "camera": each image un-inverted
(a dark garment on a light table), enlarged to 224 px inside the live guide box, with sensor noise;
then some empty frames. For demos and measurements of `fmnist live` without a camera.

    .venv/bin/python scripts/product_video.py OUT.mp4 [--per-class 1] [--hold 30] [--blank 10] [--fps 15]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

TABLE = 235  # the light background
SIZE = (640, 480)


def frame(rng: np.random.Generator, image: np.ndarray | None) -> np.ndarray:
    """One noisy 640x480 BGR frame, with `image` (28x28 Fashion-MNIST, bright on black) as a product in the centre."""
    out = np.full((SIZE[1], SIZE[0], 3), TABLE, np.float32)
    if image is not None:
        big = cv2.resize(image, (224, 224), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        out[128:352, 208:432] = (TABLE * (1 - big / 255))[..., None]
    return np.clip(out + rng.normal(0, 3, out.shape), 0, 255).astype(np.uint8)


def write_video(path: Path, images: np.ndarray, hold: int, blank: int, seed: int = 0, fps: float = 15.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, SIZE)
    rng = np.random.default_rng(seed)
    for image in [*(img for img in images for _ in range(hold)), *([None] * blank)]:
        writer.write(frame(rng, image))
    writer.release()


def write_held(path: Path, scenes: list[tuple[np.ndarray | None, int]], fps: float, variants: int = 1,
               seed: int = 0) -> None:
    """A video of `scenes`, (image or None for the empty table, frames) each: each scene's frame drawn `variants`
    times and cycled. Quick to write where `write_video` draws every frame's noise anew (~30 ms a frame here): for
    the tests that need a long video; with variants > 1 consecutive frames still differ."""
    if variants < 1:
        raise ValueError(f"variants must be 1 or more, not {variants}")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, SIZE)
    rng = np.random.default_rng(seed)
    for image, count in scenes:
        drawn = [frame(rng, image) for _ in range(min(variants, count))]
        for index in range(count):
            writer.write(drawn[index % variants])
    writer.release()


def main() -> None:
    from fmnist.data import fashion

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=1, help="test images per class")
    parser.add_argument("--hold", type=int, default=30, help="frames each image is held")
    parser.add_argument("--blank", type=int, default=10, help="empty frames at the end")
    parser.add_argument("--fps", type=float, default=15.0, help="the frame rate the file declares")
    args = parser.parse_args()
    test = fashion.load_split("test")
    picked = [i for k in range(10) for i in np.flatnonzero(test.labels == k)[: args.per_class]]
    write_video(args.out, test.images[picked], args.hold, args.blank, fps=args.fps)
    print(f"wrote {args.out}: {len(picked)} products x {args.hold} frames + {args.blank} empty frames")


if __name__ == "__main__":
    main()
