#!/usr/bin/env python3
"""Accuracy of the runtime on real clothing photos (a development set, never used for training).

    .venv/bin/python scripts/photo_accuracy.py [PHOTOS_DIR] [--model M] [--raw] [--json]

PHOTOS_DIR holds one folder per garment type (default ../shared/photos/validation). "strict" counts only the
first label mapped to a folder, "lenient" any of them; the overall figures cover the seven mapped folders.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from fmnist.runtime.classifier import Classifier
from fmnist.runtime.preprocess import IMAGE_EXTENSIONS, read_image

# folder -> accepted Fashion-MNIST indices, strict label first (from the photo set's README)
MAPPING: dict[str, tuple[int, ...]] = {
    "t-shirt": (0,), "pants": (1,), "longsleeve": (2, 0, 6), "dress": (3,), "outwear": (4,),
    "shoes": (5, 7, 9), "shirt": (6, 0),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="?", type=Path, default=Path("../shared/photos/validation"))
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--raw", action="store_true", help="skip the photo preprocessing (naive resize)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    classifier = Classifier(args.model)
    rows, strict_total, lenient_total, n_total = {}, 0, 0, 0
    for folder in sorted(p for p in args.photos.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        predicted = [classifier.classify(read_image(f), raw=args.raw).best.index for f in files]
        counts = Counter(classifier.labels[i] for i in predicted)
        row = {"n": len(files), "predicted": dict(counts.most_common())}
        if folder.name in MAPPING:
            accepted = MAPPING[folder.name]
            row["strict"] = sum(i == accepted[0] for i in predicted) / max(1, len(files))
            row["lenient"] = sum(i in accepted for i in predicted) / max(1, len(files))
            strict_total += round(row["strict"] * len(files))
            lenient_total += round(row["lenient"] * len(files))
            n_total += len(files)
        rows[folder.name] = row
    summary = {"model": str(classifier.path), "raw": args.raw, "n": n_total,
               "strict": strict_total / max(1, n_total), "lenient": lenient_total / max(1, n_total), "folders": rows}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['model']}{' (--raw)' if args.raw else ''}: {n_total} photos in 7 mapped classes, "
          f"strict {summary['strict']:.1%}, lenient {summary['lenient']:.1%}")
    for name, row in rows.items():
        scores = f"strict {row['strict']:6.1%} lenient {row['lenient']:6.1%}" if "strict" in row else " " * 29
        top = ", ".join(f"{k} {v}" for k, v in list(row["predicted"].items())[:4])
        print(f"  {name:11s} n={row['n']:3d}  {scores}  predicted: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
