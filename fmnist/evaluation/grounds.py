"""Procedural grounds a product is photographed on: plain, wood-grain tables, woven fabric, tiled floors, blotchy
walls, each in its own colour and light, some dim and noisy. The photo recipe renders Fashion-MNIST products on them
(fmnist.evaluation.render) and learns "not sure" from them alone (fmnist.train.empty_scenes); scripts/scene_sequences.py
films its textured table with them. Every ground is float32 BGR in 0-255, drawn from a seeded generator.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Ground = Callable[[int, int, np.random.Generator], np.ndarray]  # (height, width, rng) -> (h, w) float32 in 0-1


def _smooth_noise(h: int, w: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Low-frequency noise in 0-1: a few random values a side, resized smoothly."""
    coarse = rng.random((max(2, cells * h // max(h, w)), max(2, cells * w // max(h, w)))).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def plain(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An even ground with a soft light fall-off."""
    return 0.85 + 0.15 * _smooth_noise(h, w, rng, 3)


def wood(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Grain: stripes along one axis, bent by smooth noise, with darker boards' joints."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        x, y = y, x
    period = rng.uniform(6, 18) * max(h, w) / 160
    bend = _smooth_noise(h, w, rng, 4) * rng.uniform(10, 40) * max(h, w) / 160
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (y + bend) / period)
    boards = (np.mod(x, rng.uniform(0.3, 0.6) * max(h, w)) < 2).astype(np.float32)
    return (0.65 + 0.3 * grain - 0.3 * boards) * (0.85 + 0.15 * _smooth_noise(h, w, rng, 6))


def fabric(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A weave: two fine crossing waves and a slow fold shading."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    pitch = rng.uniform(2.5, 6) * max(h, w) / 160
    weave = 0.5 + 0.25 * (np.sin(2 * np.pi * x / pitch) + np.sin(2 * np.pi * y / pitch))
    return (0.7 + 0.15 * weave) * (0.75 + 0.25 * _smooth_noise(h, w, rng, 3))


def tiles(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Square tiles of two tones with dark joints."""
    y, x = np.mgrid[0:h, 0:w]
    side = max(4, int(rng.uniform(0.15, 0.4) * max(h, w)))
    tone = np.where((x // side + y // side) % 2 == 0, 0.9, rng.uniform(0.6, 0.85)).astype(np.float32)
    tone[(x % side < 2) | (y % side < 2)] = 0.4
    return tone


def blotches(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A wall or a carpet: blotchy noise at two scales."""
    return 0.55 + 0.25 * _smooth_noise(h, w, rng, 8) + 0.2 * _smooth_noise(h, w, rng, 40)


GROUNDS: dict[str, Ground] = {"plain": plain, "wood": wood, "fabric": fabric, "tiles": tiles, "blotches": blotches}


def ground(h: int, w: int, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """(h, w, 3) float32 BGR: a ground of `kind` (one of GROUNDS; None: any) in a random colour and light."""
    pattern = GROUNDS[kind or str(rng.choice(list(GROUNDS)))](h, w, rng)
    colour = rng.uniform(90, 250) * np.clip(1 + rng.normal(0, 0.12, 3), 0.6, 1.4)  # mostly near-neutral
    return (pattern[..., None] * colour).astype(np.float32)


def dim_and_noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image as a dim camera frame: darker, with strong sensor noise."""
    return image * rng.uniform(0.15, 0.5) + rng.normal(0, rng.uniform(4, 14), image.shape).astype(np.float32)
