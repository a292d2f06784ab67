"""Soak: the runtime keeps its memory flat (a week on a Pi is many millions of calls), measured as a trend.

The loop runs in a fresh process that imports only the runtime, as on a Pi: a pytest worker that has loaded
TensorFlow for other tests carries allocator state that moves its RSS for reasons of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

SOAK = r'''
import json, sys
from pathlib import Path
import cv2
from fmnist.data import fashion
from tests.memory import rss_bytes
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.cutout import WORK_SIZE
from fmnist.runtime.image import read_image

assert "tensorflow" not in sys.modules
classifier = Classifier("edge", threads=1)  # the cut-out: segmentation is what could leak
images = fashion.load_split("test").images[:1000]
# real photos at half the preprocessing's working size: every stage runs, at a soak-friendly cost
side = WORK_SIZE // 2
photos = [cv2.resize(p, (side, round(side * p.shape[0] / p.shape[1])), interpolation=cv2.INTER_AREA)
          for p in map(read_image, sorted(Path(sys.argv[1]).glob("*.jpg")))]
for i in range(2000):  # warm-up: arenas, caches and OpenCV's buffers reach their steady size (RSS stops
    classifier.predict(images[i % 1000 : i % 1000 + 1])  # moving after ~1,500 photos, then stays flat
    if i % 4 != 0:
        classifier.classify(photos[i % len(photos)])
before = rss_bytes()
predicts = []
for i in range(50_000):
    classifier.predict(images[i % 1000 : i % 1000 + 1])
    if i % 2500 == 0:
        predicts.append((i, rss_bytes()))
labels, classified = set(), []
for i in range(2_000):
    labels.add(classifier.classify(photos[i % len(photos)]).best.label)
    if i % 100 == 0:
        classified.append((i, rss_bytes()))
print(json.dumps({"before": before, "after": rss_bytes(), "predicts": predicts, "classified": classified,
                  "labels": sorted(labels)}))
'''


def _growth_per_call(samples: list[tuple[int, int]]) -> float:
    """Bytes of RSS per call: the slope of a straight line through (calls, RSS) samples."""
    calls, rss = np.array(samples, dtype=np.float64).T
    return float(np.polyfit(calls, rss, 1)[0])


@pytest.mark.slow
def test_memory_stays_flat_over_predicts_and_photos():
    """The RSS trend over 50k predicts and 2k photos, sampled as it goes and fitted with a line, projects to
    less than 5 % growth over a million predicts (a 10-byte leak per call would show) and over 100k photos."""
    done = subprocess.run([sys.executable, "-c", SOAK, str(ROOT / "examples" / "photos")], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)  # cwd: tests.memory imports
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    before, after = got["before"], got["after"]
    assert _growth_per_call(got["predicts"]) * 1_000_000 < 0.05 * before, got["predicts"]
    assert _growth_per_call(got["classified"]) * 100_000 < 0.05 * before, got["classified"]
    assert after < before * 1.02, (before, after)
    assert len(got["labels"]) > 1  # the work was real: the photos are not all given one label
