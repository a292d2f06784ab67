"""Soak: a long run of the runtime keeps its memory flat (a week on a Pi is many millions of calls)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from fmnist import data
from fmnist.bench.machine import rss_bytes
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.preprocess import WORK_SIZE, read_image

PHOTOS = sorted((Path(__file__).resolve().parent.parent / "examples" / "photos").glob("*.jpg"))


@pytest.mark.slow
def test_memory_stays_flat_over_200k_predicts_and_20k_photos():
    classifier = Classifier(threads=1)
    images = data.load_split("test").images[:1000]
    # real photos at half the preprocessing's working size: every stage runs, at a soak-friendly cost
    side = WORK_SIZE // 2
    photos = [cv2.resize(p, (side, round(side * p.shape[0] / p.shape[1])), interpolation=cv2.INTER_AREA)
              for p in map(read_image, PHOTOS)]
    for i in range(2000):  # warm-up: arenas, caches and OpenCV's buffers reach their steady size
        classifier.predict(images[i % 1000 : i % 1000 + 1])
        if i % 10 == 0:
            classifier.classify(photos[i % len(photos)])
    before = rss_bytes()
    for i in range(200_000):
        classifier.predict(images[i % 1000 : i % 1000 + 1])
    after_predict = rss_bytes()
    labels = set()
    for i in range(20_000):
        labels.add(classifier.classify(photos[i % len(photos)]).best.label)
    after = rss_bytes()
    assert after_predict < before * 1.05 and after < before * 1.05, (before, after_predict, after)
    assert len(labels) > 1  # the work was real: the photos are not all given one label
