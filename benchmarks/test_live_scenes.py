"""One live-loop frame (guide box, preprocess, infer, smooth, overlay) on three synthetic 640x480 scenes, the
cases a camera meets: a product on a plain backdrop, on a textured and noisy one, and a garment that fills
the guide box. Each round is a new frame of the same scene (fresh sensor noise), as a held camera gives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from fmnist.runtime.classifier import Classifier
from fmnist.runtime.live import FrameStep, LiveConfig
from fmnist.runtime.preprocess import read_image

ROOT = Path(__file__).resolve().parent.parent
SIZE = (640, 480)
FRAMES = 30
# what a right loop says on each scene once its smoothing window is full: the product's label, or for the
# oversized garment (trousers) the right label or "not sure", never a confident wrong one
EXPECTED = {"plain backdrop": {"Ankle boot"}, "textured noisy backdrop": {"Ankle boot"},
            "garment fills the box": {"Trouser", "not sure"}}


def _product(test_image: np.ndarray, ground: np.ndarray) -> np.ndarray:
    """A Fashion-MNIST product, un-inverted (dark on light) and enlarged to 224 px, in the guide box."""
    big = cv2.resize(test_image, (224, 224), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    out = ground.astype(np.float32)
    out[128:352, 208:432] = out[128:352, 208:432] * (1 - big[..., None]) + 40 * big[..., None]
    return out


def _tiles() -> np.ndarray:
    floor = np.zeros((SIZE[1], SIZE[0], 3), np.float32)
    for y in range(0, SIZE[1], 40):
        for x in range(0, SIZE[0], 40):
            floor[y : y + 40, x : x + 40] = (210, 205, 195) if (x + y) // 40 % 2 else (170, 165, 160)
    floor[::40], floor[:, ::40] = 90, 90
    return floor


def scenes(test_image: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """name -> (the scene without noise, the sensor noise's sigma)."""
    plain = np.full((SIZE[1], SIZE[0], 3), 235, np.float32)
    garment = cv2.resize(read_image(ROOT / "examples" / "photos" / "pants.jpg"), (SIZE[1], SIZE[1]))
    filled = _tiles()
    filled[:, 80:560] = garment  # larger than the guide box (288 px), on a textured ground
    return {"plain backdrop": (_product(test_image, plain), 3.0),
            "textured noisy backdrop": (_product(test_image, _tiles()), 12.0),
            "garment fills the box": (filled, 6.0)}


def _noisy_frames(scene: np.ndarray, sigma: float) -> Callable[[], np.ndarray]:
    rng = np.random.default_rng(0)
    frames = [np.clip(scene + rng.normal(0, sigma, scene.shape), 0, 255).astype(np.uint8) for _ in range(FRAMES)]
    count = iter(range(10**9))
    return lambda: frames[next(count) % FRAMES]


@pytest.mark.parametrize("name", ["plain backdrop", "textured noisy backdrop", "garment fills the box"])
def test_live_frame_on_scene(benchmark, name):
    from fmnist import data

    test_image = data.load_split("test").images[0]  # an ankle boot
    scene, sigma = scenes(test_image)[name]
    next_frame = _noisy_frames(scene, sigma)
    step = FrameStep(Classifier(threads=1), LiveConfig(display=False))
    benchmark.group = "live scenes"
    benchmark.extra_info.update(scene=name, size="640x480", threads=1)
    for _ in range(5):  # fill the smoothing window, so the label checked below is the loop's steady answer
        step(next_frame())
    result = benchmark.pedantic(lambda: step(next_frame())[0], rounds=FRAMES, warmup_rounds=3)
    assert result.label in EXPECTED[name], result
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # absent with --benchmark-disable
        benchmark.extra_info["fps"] = round(1 / stats.stats.median, 1)
