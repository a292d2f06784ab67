"""Scenes with nothing to classify, for the photo model to learn "not sure" from, as it does from hat, shorts and
skirt: plain and textured tables, walls, floors and fabrics (fmnist.evaluation.grounds), a third of them dim and noisy
as a camera frame in poor light. Their target is the uniform distribution (fmnist.train.photo_targets)."""

from __future__ import annotations

import cv2
import numpy as np

from fmnist.evaluation.grounds import dim_and_noisy, ground

DIM_SHARE = 1 / 3


def empty_scenes(count: int, size: int, seed: int) -> np.ndarray:
    """(count, size, size, 3) uint8 BGR grounds with nothing on them."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        scene = ground(size, size, rng) * rng.uniform(0.8, 1.15)
        if rng.random() < 0.5:
            scene = cv2.GaussianBlur(scene, (0, 0), rng.uniform(0.3, 1.5))
        scene = dim_and_noisy(scene, rng) if rng.random() < DIM_SHARE else scene + rng.normal(0, 3, scene.shape)
        out[i] = np.clip(scene + 0.5, 0, 255).astype(np.uint8)
    return out
