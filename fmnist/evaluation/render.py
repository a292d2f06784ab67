"""Fashion-MNIST images written as photos, for a model that takes colour photos (the photo model).

A Fashion-MNIST image is a product shot negated: the garment bright on black. `render` writes it back the
way it was shot, dark on a light ground, grey as BGR, resized to the model's side: what the photo model's
centre crop gives for a product photo. `evaluate` and `export` judge such a model on the test set rendered so
(deterministic); training also varies it (`render_varied`: the ground's tone and tint, the garment's size,
place and colour, light, blur and sensor noise), so the rendered images look like photos rather than scans.
The run card records RENDER, so the figures say how the test images were made.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

RENDER: dict[str, Any] = {
    "version": "render-1",
    "steps": "x -> 255 - x (dark on light), grey to BGR, cubic resize from 28x28 to the model's side",
    "training": "half written as the test images are, half varied: ground tone 170-255 and tint, garment "
                "65-100 % of the side, placed at random, tinted, "
                "light, blur and sensor noise",
}


def render(images: np.ndarray, size: int) -> np.ndarray:
    """(N, 28, 28) uint8 bright on black -> (N, size, size, 3) uint8 BGR, dark on a white ground."""
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, image in enumerate(images):
        big = cv2.resize(255 - image, (size, size), interpolation=cv2.INTER_CUBIC)
        out[i] = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    return out


def _varied(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """One photo-like rendering of a 28x28 image (bright on black)."""
    side = int(size * rng.uniform(0.65, 1.0))
    mask = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)[..., None] / 255
    ground = rng.uniform(170, 255) * (1 + rng.normal(0, 0.04, 3))  # a light, slightly tinted ground
    garment = rng.uniform(0, 200) * (1 + rng.normal(0, 0.25, 3))  # any colour darker than the ground
    canvas = np.broadcast_to(ground, (size, size, 3)).astype(np.float32).copy()
    y, x = rng.integers(0, size - side + 1, 2)
    patch = canvas[y : y + side, x : x + side]
    canvas[y : y + side, x : x + side] = patch * (1 - mask) + garment * mask
    canvas = canvas * rng.uniform(0.75, 1.15) + rng.uniform(-20, 20)  # light: gain and offset
    if rng.random() < 0.5:
        canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.3, 1.2))
    canvas += rng.normal(0, rng.uniform(1, 6), canvas.shape)  # sensor noise
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def render_varied(images: np.ndarray, size: int, seed: int) -> np.ndarray:
    """(N, 28, 28) uint8 bright on black -> (N, size, size, 3) uint8 BGR, each varied as a photo would be."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, image in enumerate(images):
        out[i] = _varied(image, size, rng)
    return out
