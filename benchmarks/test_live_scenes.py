"""One live-loop frame (guide box, preprocess, infer, smooth, overlay) on three synthetic 640x480 scenes, the
cases a camera meets: a product on a plain backdrop, on a textured and noisy one, and a garment that fills
the guide box. Each round is a new frame of the same scene (fresh sensor noise), as a held camera gives:
the loop segments the scene once and then reuses the mask (fmnist.runtime.video.scene), which is what is timed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fmnist.runtime.classifier import Classifier
from fmnist.runtime.video.step import FrameStep
from scripts.scene_videos import noisy_frames, scenes

FRAMES = 30  # distinct noisy frames, cycled
ROUNDS = 200
# what a right loop says on each scene once its smoothing window is full: the product's label, or for the
# oversized garment (trousers) the right label or "not sure", never a confident wrong one
EXPECTED = {"plain backdrop": {"Ankle boot"}, "textured noisy backdrop": {"Ankle boot"},
            "garment fills the box": {"Trouser", "not sure"}}


def _cycled(scene: np.ndarray, sigma: float, distinct: int) -> Callable[[], np.ndarray]:
    frames = list(noisy_frames(scene, sigma, distinct))
    count = iter(range(10**9))
    return lambda: frames[next(count) % distinct]


@pytest.mark.parametrize("name", ["plain backdrop", "textured noisy backdrop", "garment fills the box"])
def test_live_frame_on_scene(benchmark, name, measured):
    from fmnist.data import fashion

    test_image = fashion.load_split("test").images[0]  # an ankle boot
    scene, sigma = scenes(test_image)[name]
    next_frame = _cycled(scene, sigma, FRAMES if measured else 6)  # unmeasured: 6 frames are used, each its own
    step = FrameStep(Classifier("edge", threads=1))
    benchmark.group = "live scenes"
    benchmark.extra_info.update(scene=name, size="640x480", threads=1)
    for _ in range(5):  # fill the smoothing window, so the label checked below is the loop's steady answer
        step(next_frame())
    result = benchmark.pedantic(lambda: step(next_frame())[0], rounds=ROUNDS, warmup_rounds=3)
    assert result.label in EXPECTED[name], result
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # absent with --benchmark-disable
        benchmark.extra_info["fps"] = round(1 / stats.stats.median, 1)
        benchmark.extra_info["p99_ms"] = round(float(np.percentile(stats.stats.data, 99)) * 1000, 2)
