"""A tiny photo tree for tests: ROOT/<class>/<n>.jpg, each a dark garment-like shape on a light, slightly
noisy background (what `preprocess` segments), plus optional broken files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SHAPES = {  # class -> polygon in a 100x100 frame
    "t-shirt": [(25, 20), (75, 20), (90, 40), (75, 45), (72, 85), (28, 85), (25, 45), (10, 40)],
    "pants": [(35, 10), (65, 10), (70, 90), (55, 90), (50, 40), (45, 90), (30, 90)],
    "longsleeve": [(30, 15), (70, 15), (95, 80), (82, 82), (70, 40), (70, 88), (30, 88), (30, 40), (18, 82), (5, 80)],
    "hat": [(20, 60), (30, 35), (50, 28), (70, 35), (80, 60), (95, 68), (5, 68)],
}


def photo(kind: str, seed: int, size: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 215, np.uint8) + rng.integers(0, 12, (size, size, 3), dtype=np.uint8)
    scale = size / 100 * rng.uniform(0.8, 1.0)
    shift = rng.uniform(0, size - 100 * scale, 2)
    points = (np.array(SHAPES[kind], np.float32) * scale + shift).astype(np.int32)
    cv2.fillPoly(image, [points], tuple(int(c) for c in rng.integers(20, 90, 3)))
    return image


def make_tree(root: Path, per_class: int = 6, classes: tuple[str, ...] = tuple(SHAPES),
              broken: bool = False) -> Path:
    for c, kind in enumerate(classes):
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(folder / f"{i}.jpg"), photo(kind, 100 * c + i))
    if broken:
        (root / classes[0] / "truncated.jpg").write_bytes((root / classes[0] / "0.jpg").read_bytes()[:300])
        (root / classes[0] / "empty.jpg").write_bytes(b"")
    return root
