#!/usr/bin/env python3
"""Contact sheets of numbered thumbnails, for labelling photos by eye (docs/photo-labels.md).

    .venv/bin/python scripts/contact_sheet.py ../shared/photos/validation/shoes /tmp/sheets/val-shoes [--per 64]

Writes OUT/sheet-01.png, sheet-02.png, ... (an 8x8 grid of 150 px thumbnails each, the number of each photo in its
corner) and OUT/index.csv (number, file name): the number on a thumbnail is its row in index.csv. Photos are taken in
file-name order, so the same folder always gives the same numbers.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import cv2
import numpy as np

from fmnist.runtime.image import read_image

THUMB = 150
COLUMNS = 8


def thumbnail(path: Path) -> np.ndarray:
    """The photo (EXIF orientation applied) shrunk to fit THUMB x THUMB, centred on grey."""
    image = read_image(path)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    image = image[..., :3]
    scale = THUMB / max(image.shape[:2])
    small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    tile = np.full((THUMB, THUMB, 3), 128, np.uint8)
    y, x = (THUMB - small.shape[0]) // 2, (THUMB - small.shape[1]) // 2
    tile[y:y + small.shape[0], x:x + small.shape[1]] = small
    return tile


def numbered(tile: np.ndarray, number: int) -> np.ndarray:
    """The tile with its number in white on black at the top left."""
    text = str(number)
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2)
    cv2.rectangle(tile, (0, 0), (w + 6, h + 8), (0, 0, 0), -1)
    cv2.putText(tile, text, (3, h + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return tile


def sheet(tiles: list[np.ndarray]) -> np.ndarray:
    """The tiles in rows of COLUMNS, 2 px apart."""
    rows = math.ceil(len(tiles) / COLUMNS)
    step = THUMB + 2
    canvas = np.full((rows * step, COLUMNS * step, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, COLUMNS)
        canvas[r * step:r * step + THUMB, c * step:c * step + THUMB] = tile
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per", type=int, default=64, help="thumbnails a sheet (default 64)")
    args = parser.parse_args()
    photos = sorted(p for p in args.folder.iterdir() if p.is_file())
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "index.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("number", "file"), *((i, p.name) for i, p in enumerate(photos))])
    for start in range(0, len(photos), args.per):
        tiles = [numbered(thumbnail(p), start + i) for i, p in enumerate(photos[start:start + args.per])]
        cv2.imwrite(str(args.out / f"sheet-{start // args.per + 1:02d}.png"), sheet(tiles))
    print(f"{len(photos)} photos -> {math.ceil(len(photos) / args.per)} sheets in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
