"""A photo folder (one subfolder per class) copied at a phone photo's size: each photo upscaled 2.5x (cubic; the
clothing photos' 400x533 become 1000x1333) and saved as a JPEG of quality 92 under DEST/jpeg/<class>/, and that
JPEG decoded whole saved again as a PNG under DEST/png/<class>/ (fmnist never reads a PNG at a reduced scale).

What the reduced decode costs in accuracy (docs/scale.md): the same pictures, decoded at 1/4 and whole:

  .venv/bin/python scripts/phone_size_photos.py ~/photos/validation /tmp/phone-val
  .venv/bin/fmnist evaluate --model photo --photos /tmp/phone-val/jpeg --json   # decoded at 1/4
  .venv/bin/fmnist evaluate --model photo --photos /tmp/phone-val/png --json    # the same JPEGs decoded whole
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

SCALE = 2.5


def copy_at_phone_size(source: Path, dest: Path) -> int:
    count = 0
    for photo in sorted(source.glob("*/*")):
        image = cv2.imread(str(photo))
        if image is None:
            continue
        h, w = image.shape[:2]
        big = cv2.resize(image, (round(w * SCALE), round(h * SCALE)), interpolation=cv2.INTER_CUBIC)
        jpeg = dest / "jpeg" / photo.parent.name / (photo.stem + ".jpg")
        png = dest / "png" / photo.parent.name / (photo.stem + ".png")
        for out in (jpeg, png):
            out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(jpeg), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
        cv2.imwrite(str(png), cv2.imread(str(jpeg), cv2.IMREAD_COLOR))
        count += 1
    return count


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(f"{copy_at_phone_size(Path(sys.argv[1]), Path(sys.argv[2]))} photos written to {sys.argv[2]}")
