#!/usr/bin/env python3
"""Write fmnist/assets/photo_labels.csv from labels made by eye on contact sheets (docs/photo-labels.md).

    .venv/bin/python scripts/photo_labels.py SHEET_LABELS.csv [...] [--photos ../shared/photos]
        [--out FILE] [--drop-unlisted]

Each input is one folder's labels as they were written while looking at scripts/contact_sheet.py's sheets:
FOLDER.csv with the columns split,file,label,note. Each row gains its folder and the photo's sha256 (read from
PHOTOS/SPLIT/FOLDER/FILE), by which fmnist.evaluation.photo_labels finds it in any copy of the photo set. The rows of
the folders given replace those folders' rows in --out (default: the asset); the other folders' rows stay.

Every row is checked before anything is written (its label in the vocabulary, one row a photo, its sha256, its photo
under PHOTOS), and --out is replaced whole or not at all. A row of a folder given that no sheet lists (either split)
would be dropped: that is refused unless --drop-unlisted says the photo is gone from the set.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from fmnist.core.atomic import write_bytes
from fmnist.core.bounded import sha256_file
from fmnist.core.errors import FmnistError, UsageError, escaped, printable
from fmnist.evaluation.photo_labels import COLUMNS, DEFAULT_LABELS, Row, check_rows, read_table

ASSET = Path(__file__).resolve().parent.parent / "fmnist" / "assets" / DEFAULT_LABELS
SHEET = ("split", "file", "label", "note")  # a sheet's columns; its name is its folder's
# The sheets' words where they differ from the asset's: a photo with no shoe in `shoes`; in the garment folders,
# "other" was anything that is none of the listed classes (not a garment), which has no Fashion-MNIST class.
WORDS = {"shoes": {"not shoes": "none"}, "shirt": {"other": "none"}, "longsleeve": {"other": "none"}}


def photo_of(fields: dict[str, str], photos: Path, place: str) -> Path:
    """PHOTOS/SPLIT/FOLDER/FILE, which must be a file; UsageError naming the row otherwise."""
    names = (fields["split"], fields["folder"], fields["file"])
    if any(not name or Path(name).name != name or name in (".", "..") for name in names):
        raise UsageError(f"{place}: {printable('/'.join(names), 80)!r} is not a split, a folder and a file name; "
                         "give each as the photo set names it")
    photo = photos.joinpath(*names)
    if not photo.is_file():
        raise UsageError(f"{place}: no photo {photo}; check --photos, and the row's split and file")
    return photo


def sheet_rows(sheet: Path, photos: Path) -> list[Row]:
    """The sheet's rows as rows of the asset: its folder, and each photo's sha256 read from PHOTOS."""
    rows = []
    for row in read_table(sheet, SHEET, "a label sheet"):
        fields = {"folder": sheet.stem, **row.fields}
        fields["label"] = WORDS.get(sheet.stem, {}).get(fields["label"], fields["label"])
        fields["sha256"] = sha256_file(photo_of(fields, photos, row.place))
        rows.append(Row({c: fields[c] for c in COLUMNS}, row.place))
    return rows


def kept_rows(out: Path, new: Sequence[Row], drop_unlisted: bool) -> list[Row]:
    """The rows of --out that stay: every folder's but the sheets'. A sheet's folder's row that no sheet lists is
    dropped only with --drop-unlisted."""
    old = read_table(out, COLUMNS, "a photo label file") if out.exists() else []
    replaced = {r.fields["folder"] for r in new}
    listed = {_where(r) for r in new}
    dropped = [r for r in old if r.fields["folder"] in replaced and _where(r) not in listed]
    if dropped and not drop_unlisted:
        raise UsageError(f"{len(dropped)} rows of {out} would be dropped: no sheet lists them (first: "
                         f"{printable('/'.join(_where(dropped[0])), 80)}, {dropped[0].place}); give every photo of a "
                         "folder, both splits, in its sheets, or pass --drop-unlisted if they left the photo set")
    return [r for r in old if r.fields["folder"] not in replaced]


def _where(row: Row) -> tuple[str, str, str]:
    return row.fields["folder"], row.fields["split"], row.fields["file"]


def labelled(sheets: Sequence[Path], photos: Path, out: Path, drop_unlisted: bool) -> list[Row]:
    """Every row the new file holds, checked as PhotoLabels.load checks it, and every photo found under PHOTOS."""
    new = [row for sheet in sheets for row in sheet_rows(sheet, photos)]
    check_rows(new)  # the sheets' own faults first, named by their lines
    rows = sorted(kept_rows(out, new, drop_unlisted) + new, key=_where)
    if not rows:
        raise UsageError(f"the sheets ({', '.join(map(str, sheets))}) hold no rows; give one row a photo")
    check_rows(rows)  # a kept row too, and a sheet's photo that a kept row already gives
    for row in rows:
        photo_of(row.fields, photos, row.place)
    return rows


def rendered(rows: Sequence[Row]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(r.fields for r in rows)
    return text.getvalue().encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sheets", type=Path, nargs="+")
    parser.add_argument("--photos", type=Path, default=Path("../shared/photos"))
    parser.add_argument("--out", type=Path, default=ASSET, help="the label file to write (default: the asset)")
    parser.add_argument("--drop-unlisted", action="store_true",
                        help="let a folder's rows that no sheet lists go (photos gone from the set)")
    args = parser.parse_args(argv)
    try:
        rows = labelled(args.sheets, args.photos, args.out, args.drop_unlisted)
        write_bytes(args.out, rendered(rows))
    except FmnistError as e:
        print(f"error: {escaped(e)}", file=sys.stderr)
        return e.exit_code
    print(f"wrote {args.out}: {len(rows)} photos in {len({r.fields['folder'] for r in rows})} folders")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
