#!/usr/bin/env python3
"""Write fmnist/assets/photo_labels.csv from labels made by eye on contact sheets (docs/photo-labels.md).

    .venv/bin/python scripts/photo_labels.py SHEET_LABELS.csv [...] [--photos ../shared/photos]

Each input is one folder's labels as they were written while looking at scripts/contact_sheet.py's sheets:
FOLDER.csv with the columns split,file,label,note. Each row gains its folder and the photo's sha256 (read from
PHOTOS/SPLIT/FOLDER/FILE), by which fmnist.evaluation.photo_labels finds it in any copy of the photo set. The rows of
the folders given replace those folders' rows in the asset; the other folders' rows stay.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from fmnist.core.bounded import sha256_file
from fmnist.evaluation.photo_labels import COLUMNS, DEFAULT_LABELS, PhotoLabels

ASSET = Path(__file__).resolve().parent.parent / "fmnist" / "assets" / DEFAULT_LABELS
# The sheets' words where they differ from the asset's: a photo with no shoe in `shoes`; in the garment folders,
# "other" was anything that is none of the listed classes (not a garment), which has no Fashion-MNIST class.
WORDS = {"shoes": {"not shoes": "none"}, "shirt": {"other": "none"}, "longsleeve": {"other": "none"}}


def rows_of(sheet: Path, photos: Path) -> list[dict[str, str]]:
    folder = sheet.stem
    rows = []
    with sheet.open(newline="") as f:
        for row in csv.DictReader(f):
            photo = photos / row["split"] / folder / row["file"]
            rows.append({"folder": folder, "split": row["split"], "file": row["file"], "sha256": sha256_file(photo),
                         "label": WORDS.get(folder, {}).get(row["label"], row["label"]), "note": row.get("note", "")})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sheets", type=Path, nargs="+")
    parser.add_argument("--photos", type=Path, default=Path("../shared/photos"))
    args = parser.parse_args()
    replaced = {s.stem for s in args.sheets}
    kept = []
    if ASSET.is_file():
        with ASSET.open(newline="") as f:
            kept = [r for r in csv.DictReader(f) if r["folder"] not in replaced]
    rows = sorted(kept + [r for s in args.sheets for r in rows_of(s, args.photos)],
                  key=lambda r: (r["folder"], r["split"], r["file"]))
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    ASSET.write_text(text.getvalue())
    PhotoLabels.load()  # every label in the vocabulary
    print(f"wrote {ASSET}: {len(rows)} photos in {len({r['folder'] for r in rows})} folders")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
