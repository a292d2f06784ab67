"""The runtime's other costs: photo preprocessing, end-to-end classify of a JPEG, one live-loop iteration; the
segmentation paths with the 28x28 model (edge), a photo model's live iteration with the default (photo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fmnist.runtime.classifier import Classifier
from fmnist.runtime.cutout import preprocess
from fmnist.runtime.image import read_image
from fmnist.runtime.video.scene import MAX_WAIT
from fmnist.runtime.video.step import FrameStep

ROOT = Path(__file__).resolve().parent.parent


def test_preprocess_640x480_photo(benchmark, photo):
    benchmark.group = "runtime"
    benchmark.pedantic(preprocess, args=(photo,), rounds=50, warmup_rounds=3)


def test_classify_a_jpeg_end_to_end(benchmark):
    classifier = Classifier("edge", threads=1)
    path = ROOT / "examples" / "photos" / "pants.jpg"
    benchmark.group = "runtime"
    benchmark.extra_info.update(threads=1, model="shipped edge.int8.onnx", note="decode + preprocess + infer")
    benchmark.pedantic(lambda: classifier.classify(read_image(path)), rounds=50, warmup_rounds=3)


def test_live_loop_iteration_640x480(benchmark, photo):
    step = FrameStep(Classifier("edge", threads=1))
    benchmark.group = "runtime"
    benchmark.extra_info.update(threads=1, note="guide box, preprocess, infer, smooth, overlay; a held scene: "
                                "segmented once, the mask reused")
    benchmark.pedantic(step, args=(photo,), rounds=50, warmup_rounds=3)


def test_live_loop_iteration_640x480_photo_model(benchmark, photo):
    """The default photo model: every frame cropped, resized and classified afresh (no segmentation)."""
    step = FrameStep(Classifier(threads=1))
    benchmark.group = "runtime"
    benchmark.extra_info.update(threads=1, model="shipped photo.int8.onnx", note="guide box, centre crop, infer, "
                                "smooth, overlay: every frame")
    benchmark.pedantic(step, args=(photo,), rounds=50, warmup_rounds=3)
    assert step.preprocess.counts() == {}  # nothing segmented, reused or waited for


def test_live_loop_iteration_scene_moving_every_frame(benchmark, photo):
    """The worst case for the video path: the picture moves every frame (a camera swung around). Moving
    frames are skipped as "not sure"; every MAX_WAIT + 1-th frame is segmented anyway."""
    step = FrameStep(Classifier("edge", threads=1))
    frames = iter([np.roll(photo, 48 * k, axis=1) for k in range(60)])
    benchmark.group = "runtime"
    benchmark.extra_info.update(threads=1, note="a new picture every frame: skipped as moving, segmented "
                                "every MAX_WAIT + 1 frames")
    benchmark.pedantic(lambda: step(next(frames)), rounds=54, warmup_rounds=0)
    counts = step.preprocess.segmented, step.preprocess.moving, step.preprocess.reused
    calls = sum(counts)  # 54, or 1 with --benchmark-disable
    assert counts[2] == 0 and counts[0] == (calls + MAX_WAIT) // (MAX_WAIT + 1), counts


def test_soak_10k_predicts(benchmark, images, measured):
    """Steady-state batch-1 predict over 10,000 calls; extra_info holds the RSS growth over the run."""
    from tests.memory import rss_bytes

    classifier = Classifier("edge", threads=1)
    one = images[:1]

    def many() -> None:
        for _ in range(10_000):
            classifier.predict(one)

    if measured:
        many()  # warm-up
    before = rss_bytes()
    benchmark.group = "soak"
    benchmark.pedantic(many, rounds=3, iterations=1)
    benchmark.extra_info.update(rss_growth_pct=round((rss_bytes() / before - 1) * 100, 2), calls_per_round=10_000)
