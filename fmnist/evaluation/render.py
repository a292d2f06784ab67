"""Fashion-MNIST images written as photos, for a model that takes colour photos (the photo model).

A Fashion-MNIST image is a product shot negated: the garment bright on black. `render` writes it back the
way it was shot, dark on a light ground, grey as BGR, resized to the model's side: what the photo model's
centre crop gives for a product photo. `evaluate` and `export` judge such a model on the test set rendered so
(deterministic); training also varies it (`render_varied`: a plain or textured ground, the garment's size, place
and colour, larger than the square at times, footwear as pairs, light, blur and sensor noise), so the rendered
images look like photos rather than scans. The run card records RENDER, so the figures say how the test images
were made.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from fmnist.evaluation.grounds import ground

RENDER: dict[str, Any] = {
    "version": "render-2",
    "steps": "x -> 255 - x (dark on light), grey to BGR, cubic resize from 28x28 to the model's side",
    "training": "half written as the test images are, half varied: a light tinted ground or a textured one "
                "(wood, fabric, tiles, blotches; fmnist.evaluation.grounds), garment 65-100 % of the side or "
                "100-140 % (cut at the edges), footwear half the time as a pair, placed at random, tinted, "
                "light, blur and sensor noise",
}


def render(images: np.ndarray, size: int) -> np.ndarray:
    """(N, 28, 28) uint8 bright on black -> (N, size, size, 3) uint8 BGR, dark on a white ground."""
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, image in enumerate(images):
        big = cv2.resize(255 - image, (size, size), interpolation=cv2.INTER_CUBIC)
        out[i] = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    return out


FOOTWEAR = (5, 7, 9)  # Sandal, Sneaker, Ankle boot: photographed as pairs as often as alone
PAIR_SHARE = 0.5
TEXTURED_SHARE = 0.5
LARGE_SHARE = 0.25


def _placed(mask: np.ndarray, size: int, rng: np.random.Generator, pair: bool) -> np.ndarray:
    """(size, size) float32 0-1: the garment's mask scaled and placed at random. Most fit the square (65-100 % of
    the side); LARGE_SHARE are larger than it (100-140 %) and cut at its edges; a pair is two copies side by side."""
    side = int(size * (rng.uniform(1.0, 1.4) if rng.random() < LARGE_SHARE else rng.uniform(0.65, 1.0)))
    one = cv2.resize(mask, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    if pair:
        shift = int(side * rng.uniform(0.25, 0.6))
        both = np.zeros((side + int(side * 0.1), side + shift), np.float32)
        both[:side, :side] = one
        drop = int(rng.integers(0, side // 10 + 1))
        both[drop:drop + side, shift:] = np.maximum(both[drop:drop + side, shift:], one)
        scale = side / max(both.shape)
        one = cv2.resize(both, (max(1, int(both.shape[1] * scale)), max(1, int(both.shape[0] * scale))))
    canvas = np.zeros((size, size), np.float32)
    h, w = one.shape
    y, x = int(rng.integers(min(0, size - h), max(0, size - h) + 1)), int(rng.integers(min(0, size - w),
                                                                                          max(0, size - w) + 1))
    ys, xs = slice(max(0, y), min(size, y + h)), slice(max(0, x), min(size, x + w))
    canvas[ys, xs] = one[ys.start - y:ys.stop - y, xs.start - x:xs.stop - x]
    return canvas[..., None]


def _varied(image: np.ndarray, size: int, rng: np.random.Generator, pair: bool) -> np.ndarray:
    """One photo-like rendering of a 28x28 image (bright on black)."""
    mask = _placed(image, size, rng, pair)
    if rng.random() < TEXTURED_SHARE:
        canvas = ground(size, size, rng)
    else:
        tone = rng.uniform(170, 255) * (1 + rng.normal(0, 0.04, 3))  # a light, slightly tinted ground
        canvas = np.broadcast_to(tone, (size, size, 3)).astype(np.float32).copy()
    garment = rng.uniform(0, 200) * (1 + rng.normal(0, 0.25, 3))  # any colour, darker than a light ground
    canvas = canvas * (1 - mask) + garment * mask
    canvas = canvas * rng.uniform(0.75, 1.15) + rng.uniform(-20, 20)  # light: gain and offset
    if rng.random() < 0.5:
        canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.3, 1.2))
    canvas += rng.normal(0, rng.uniform(1, 6), canvas.shape)  # sensor noise
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def render_varied(images: np.ndarray, size: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """(N, 28, 28) uint8 bright on black -> (N, size, size, 3) uint8 BGR, each varied as a photo would be;
    `labels` (N,) lets footwear be drawn as pairs."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, image in enumerate(images):
        pair = labels is not None and int(labels[i]) in FOOTWEAR and rng.random() < PAIR_SHARE
        out[i] = _varied(image, size, rng, pair)
    return out
