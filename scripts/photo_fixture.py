#!/usr/bin/env python3
"""Write tests/data/validation_photos.npz: the validation photos as the runtime's `preprocess` sees them.

    .venv/bin/python scripts/photo_fixture.py [PHOTOS_DIR]   # default ../shared/photos/validation

CI has no copy of the photo set, so the tests that hold the shipped model to its photo figures read
this file (28x28 images, "empty" flags, folders, each photo's sha256 and PREPROCESS_VERSION). A test
re-runs `preprocess` on the sample photos in examples/photos (the first of each validation folder)
and checks they still equal their rows here; re-run this script when the preprocessing changes.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from fmnist.evaluation.photo_set import load_photos
from fmnist.runtime.cutout import PREPROCESS_VERSION

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "validation_photos.npz"


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/photos/validation")
    photos = load_photos(root, use_cache=False)
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in photos.paths]
    np.savez_compressed(OUT, images=photos.images, empty=photos.empty, folder_index=photos.folder_index,
                        folders=np.array(photos.folders), sha256=np.array(digests),
                        preprocess_version=np.array(PREPROCESS_VERSION))
    print(f"wrote {OUT}: {len(photos)} photos in {len(photos.folders)} folders, {len(photos.skipped)} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
