#!/usr/bin/env python3
"""Three synthetic 640x480 camera scenes for `fmnist live`, the cases a camera meets: a product on a plain
backdrop, the same product on a textured and noisy one, and a garment larger than the guide box on a
textured ground. Each video holds its scene with fresh sensor noise in every frame, as a held camera gives.
`benchmarks/test_live_scenes.py` times the same scenes.

    .venv/bin/python scripts/scene_videos.py OUTDIR [--frames 300]
    fmnist live --source OUTDIR/plain.avi --model edge --no-display   # per-stage times in the summary
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SIZE = (640, 480)
FILES = {"plain backdrop": "plain.avi", "textured noisy backdrop": "textured.avi",
         "garment fills the box": "filled.avi"}


def _product(test_image: np.ndarray, ground: np.ndarray) -> np.ndarray:
    """A Fashion-MNIST product, un-inverted (dark on light) and enlarged to 224 px, in the guide box."""
    big = cv2.resize(test_image, (224, 224), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    out = ground.astype(np.float32)
    out[128:352, 208:432] = out[128:352, 208:432] * (1 - big[..., None]) + 40 * big[..., None]
    return out


def _tiles() -> np.ndarray:
    floor = np.zeros((SIZE[1], SIZE[0], 3), np.float32)
    for y in range(0, SIZE[1], 40):
        for x in range(0, SIZE[0], 40):
            floor[y : y + 40, x : x + 40] = (210, 205, 195) if (x + y) // 40 % 2 else (170, 165, 160)
    floor[::40], floor[:, ::40] = 90, 90
    return floor


def scenes(test_image: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """name -> (the scene without noise, float32 BGR; the sensor noise's sigma)."""
    from fmnist.runtime.image import read_image

    plain = np.full((SIZE[1], SIZE[0], 3), 235, np.float32)
    garment = cv2.resize(read_image(ROOT / "examples" / "photos" / "pants.jpg"), (SIZE[1], SIZE[1]))
    filled = _tiles()
    filled[:, 80:560] = garment  # larger than the guide box (288 px), on a textured ground
    return {"plain backdrop": (_product(test_image, plain), 3.0),
            "textured noisy backdrop": (_product(test_image, _tiles()), 12.0),
            "garment fills the box": (filled, 6.0)}


def noisy_frames(scene: np.ndarray, sigma: float, count: int, seed: int = 0) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield np.clip(scene + rng.normal(0, sigma, scene.shape), 0, 255).astype(np.uint8)


def main() -> None:
    from fmnist.data import fashion

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    test_image = fashion.load_split("test").images[0]  # an ankle boot
    for name, (scene, sigma) in scenes(test_image).items():
        path = args.out / FILES[name]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), args.fps, SIZE)
        for frame in noisy_frames(scene, sigma, args.frames):
            writer.write(frame)
        writer.release()
        print(f"wrote {path}: {name}, {args.frames} frames")


if __name__ == "__main__":
    main()
