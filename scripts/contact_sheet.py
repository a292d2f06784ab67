#!/usr/bin/env python3
"""Contact sheets of numbered thumbnails, for labelling photos by eye (docs/photo-labels.md).

    .venv/bin/python scripts/contact_sheet.py ../shared/photos/validation/shoes /tmp/sheets/val-shoes [--per 64]

Writes OUT/sheet-01.png, sheet-02.png, ... (an 8x8 grid of 150 px thumbnails each, the number of each photo in its
corner) and OUT/index.csv (number, file name): the number on a thumbnail is its row in index.csv. Photos are taken in
file-name order (hidden files aside), so the same folder always gives the same numbers. Every sheet is built beside
OUT first: a file in FOLDER that is no image, or a bad argument, is one `error:` line and OUT is left as it was. An
OUT that exists is replaced only if it holds nothing but an earlier run's sheets and index.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import re
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from fmnist.core.atomic import swap_folder, temp_folder
from fmnist.core.errors import FmnistError, UsageError, escaped, printable
from fmnist.runtime.image import read_image

THUMB = 150
COLUMNS = 8
OURS = re.compile(r"index\.csv|sheet-\d{2,}\.png")  # what a run writes in OUT


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


def photos_in(folder: Path) -> list[Path]:
    """The folder's files, hidden ones aside, in file-name order; UsageError if it is not a folder holding some."""
    if not folder.is_dir():
        what = "a file, not a folder" if folder.exists() else "not there"
        raise UsageError(f"{folder} is {what}; give the folder that holds the photos")
    try:
        photos = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as e:
        raise UsageError(f"cannot list {folder}: {e.strerror or e}; give a folder you can read") from None
    if not photos:
        raise UsageError(f"{folder} holds no photos; give the folder that holds them")
    return photos


def vet_earlier(folder: Path, out: Path) -> None:
    """Refuse (UsageError) an OUT that is not a folder of an earlier run's sheets and index alone."""
    if folder.is_symlink() or not folder.is_dir():
        raise UsageError(f"{out} is not a folder (a file or a link); choose a new folder for the sheets")
    others = sorted(p.name for p in folder.iterdir() if not (p.is_file() and OURS.fullmatch(p.name)))
    if others:
        raise UsageError(f"{out} holds {printable(others[0])}, which is not a contact sheet's; choose a new folder "
                         "for the sheets (nothing was written)")


def write_sheets(photos: list[Path], per: int, folder: Path) -> int:
    """index.csv and the sheets in `folder`; the number of sheets. An ImageError for a file that is no image."""
    with (folder / "index.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("number", "file"), *((i, p.name) for i, p in enumerate(photos))])
    for start in range(0, len(photos), per):
        tiles = [numbered(thumbnail(p), start + i) for i, p in enumerate(photos[start:start + per])]
        name = folder / f"sheet-{start // per + 1:02d}.png"
        if not cv2.imwrite(str(name), sheet(tiles)):
            raise FmnistError(f"cannot write {name}; free some space or choose another folder")
    return math.ceil(len(photos) / per)


def contact_sheets(folder: Path, out: Path, per: int) -> int:
    """Every sheet built in a new folder beside OUT, which then takes OUT's place: a photo that does not decode,
    a bad argument or a full disk leaves OUT as it was. An earlier OUT is replaced only if it holds sheets alone."""
    if per < 1:
        raise UsageError(f"--per {per}: a sheet holds at least one thumbnail; give --per 1 or more (default 64)")
    photos = photos_in(folder)
    if os.path.lexists(out):
        vet_earlier(out, out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        ready, holder = temp_folder(out), temp_folder(out)
    except OSError as e:
        raise UsageError(f"cannot make {out}: {e.strerror or e}; choose a folder you can write to") from None
    try:
        sheets = write_sheets(photos, per, ready)
        swap_folder(ready, out, holder / out.name, check=lambda earlier: vet_earlier(earlier, out))
    except OSError as e:
        raise FmnistError(f"cannot write {out}: {e.strerror or e}; free some space (nothing was replaced)") from None
    finally:
        shutil.rmtree(ready, ignore_errors=True)  # gone already once it took OUT's place
        with contextlib.suppress(OSError):
            holder.rmdir()  # never rmtree: an earlier OUT that could not be put back stays in it
    print(f"{len(photos)} photos -> {sheets} sheets in {out}")
    return sheets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per", type=int, default=64, help="thumbnails a sheet (default 64)")
    args = parser.parse_args(argv)
    try:
        contact_sheets(args.folder, args.out, args.per)
    except FmnistError as e:
        print(f"error: {escaped(e)}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
