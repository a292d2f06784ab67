#!/usr/bin/env python3
"""Two 640x480 camera sequences with a truth track, to score `fmnist live`'s answers frame by frame:
- table: Fashion-MNIST products (--per-class of each class, 4 by default) larger than the centre square, on a
  wood-grain table, each held for --hold frames with the empty table between them (--blank frames);
- drift, drift-fast: the same products on a plain light table, the camera held by hand: the whole picture wanders
  up to 1.5 (4) px a frame, turning smoothly, with a small tremor, while the product stays in view.
Each VIDEO.avi comes with VIDEO.truth.json: one entry a frame, the product's label index or null for an empty scene.
scripts/score_live.py runs `fmnist live` on them and counts right, sure-but-wrong and "not sure" frames.

    .venv/bin/python scripts/scene_sequences.py OUTDIR [--hold 45] [--blank 30] [--fps 30] [--per-class 4]

With four products a class, one product named wrong is 2.5 % of the product frames: --per-class 20 (200 products, the
first four among them) gives a figure five times as steady.

An OUTDIR that is a file, --hold under 1 (videos with no product), a bad --fps or --per-class (1 to 100) is one
`error:` line, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from fmnist.core.errors import FmnistError, UsageError, escaped
from fmnist.evaluation.grounds import wood

SIZE = (640, 480)
PER_CLASS = 4
MAX_PER_CLASS = 100  # each product's scene is held in memory as a 640x480 float32 picture (3.7 MB)
MAX_FPS = 1000.0
DRIFTS = {"drift.avi": 1.5, "drift-fast.avi": 4.0}  # a handheld camera's wander, at most this many px a frame


def products(per_class: int = PER_CLASS) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels): the first `per_class` Fashion-MNIST test images of each class, in class order."""
    from fmnist.data import fashion

    test = fashion.load_split("test")
    rows = np.concatenate([np.flatnonzero(test.labels == c)[:per_class] for c in range(10)])
    return test.images[rows], test.labels[rows]


def placed(ground_image: np.ndarray, image: np.ndarray, side: int, centre: tuple[int, int]) -> np.ndarray:
    """The product (28x28, bright on black) as a dark garment of `side` px on the ground, centred at `centre`."""
    out = ground_image.copy()
    mask = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)[..., None] / 255
    x0, y0 = centre[0] - side // 2, centre[1] - side // 2
    ys, xs = slice(max(0, y0), min(SIZE[1], y0 + side)), slice(max(0, x0), min(SIZE[0], x0 + side))
    cut = mask[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    out[ys, xs] = out[ys, xs] * (1 - cut) + 45 * cut
    return out


def table_scenes(images: np.ndarray, seed: int) -> Iterator[np.ndarray | None]:
    """Each product, 300-420 px (the centre square is 480), a little off-centre, on one wood table."""
    rng = np.random.default_rng(seed)
    table = wood(SIZE[1], SIZE[0], rng)[..., None] * np.array([120, 160, 200], np.float32)  # BGR: a light brown
    yield table
    for image in images:
        side, dx, dy = int(rng.integers(300, 421)), *rng.integers(-40, 41, 2)
        yield placed(table, image, side, (SIZE[0] // 2 + int(dx), SIZE[1] // 2 + int(dy)))


def handheld(frames: list[np.ndarray], rng: np.random.Generator, speed: float) -> Iterator[np.ndarray]:
    """The frames as a handheld camera sees them, through one continuous drift whatever each shows: a wander of at
    most `speed` px a frame, turning smoothly, kept within 40 px of the start, with a 0.3 px tremor."""
    at, velocity = np.zeros(2), rng.normal(0, speed / 2, 2)
    for frame in frames:
        velocity = 0.95 * velocity + rng.normal(0, 0.1 * speed, 2)
        velocity *= 1.0 / max(1.0, float(np.hypot(*velocity)) / speed)
        at = at + velocity
        velocity[np.abs(at) > 40] *= -1  # turn back at the edge of the wander
        dx, dy = at + rng.normal(0, 0.3, 2)
        yield cv2.warpAffine(frame, np.float32([[1, 0, dx], [0, 1, dy]]), SIZE, borderMode=cv2.BORDER_REFLECT)


def write(path: Path, frames: Iterator[np.ndarray], truth: list[int | None], fps: float, sigma: float,
          seed: int) -> None:
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    if not writer.isOpened():
        raise FmnistError(f"cannot write {path}: OpenCV could not open it for an MJPG video; choose a folder you can "
                          "write to")
    try:
        for frame in frames:
            writer.write(np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8))
    finally:
        writer.release()
    path.with_suffix(".truth.json").write_text(json.dumps(truth))
    print(f"wrote {path}: {len(truth)} frames")


def sequence(scenes: list[np.ndarray], labels: np.ndarray, hold: int, blank: int) -> tuple[list[np.ndarray],
                                                                                          list[int | None]]:
    """(one scene a frame, one truth a frame): the empty scene (scenes[0]) for `blank` frames before each product
    and after the last; each product for `hold` frames."""
    frames: list[np.ndarray] = []
    truth: list[int | None] = []
    for scene, label in zip(scenes[1:], labels, strict=True):
        frames += [scenes[0]] * blank + [scene] * hold
        truth += [None] * blank + [int(label)] * hold
    return frames + [scenes[0]] * blank, truth + [None] * blank


def checked(args: argparse.Namespace) -> None:
    """UsageError for settings that give no product frame, or for an OUT that cannot be a folder; OUT is made."""
    if args.hold < 1 or args.blank < 0:
        raise UsageError(f"--hold {args.hold} --blank {args.blank}: each product is shown for --hold frames (1 or "
                         "more) with --blank empty frames (0 or more) between; give --hold 1 or more")
    if not (math.isfinite(args.fps) and 0 < args.fps <= MAX_FPS):
        raise UsageError(f"--fps {args.fps}: give a frame rate over 0 and up to {MAX_FPS} (default 30)")
    if not 1 <= args.per_class <= MAX_PER_CLASS:
        raise UsageError(f"--per-class {args.per_class}: give 1 to {MAX_PER_CLASS} products of each class "
                         f"(default {PER_CLASS})")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        what = "a file, not a folder" if args.out.is_file() else e.strerror or e
        raise UsageError(f"{args.out}: {what}; give a folder for the videos") from None


def videos(out: Path, hold: int, blank: int, fps: float, per_class: int = PER_CLASS) -> None:
    images, labels = products(per_class)
    frames, truth = sequence(list(table_scenes(images, 0)), labels, hold, blank)
    write(out / "table.avi", iter(frames), truth, fps, 6.0, 1)
    light = np.full((SIZE[1], SIZE[0], 3), 225, np.float32)
    plain = [light, *(placed(light, image, 260, (SIZE[0] // 2, SIZE[1] // 2)) for image in images)]
    frames, truth = sequence(plain, labels, hold, blank)
    for name, speed in DRIFTS.items():
        write(out / name, handheld(frames, np.random.default_rng(2), speed), truth, fps, 4.0, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--hold", type=int, default=45)
    parser.add_argument("--blank", type=int, default=30)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    args = parser.parse_args(argv)
    try:
        checked(args)
        videos(args.out, args.hold, args.blank, args.fps, args.per_class)
    except FmnistError as e:
        print(f"error: {escaped(e)}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
