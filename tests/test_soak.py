"""Soak: the runtime keeps its memory flat (a week on a Pi is many millions of calls), measured as a trend.

The loop runs in a fresh process that imports only the runtime, as on a Pi: a pytest worker that has loaded
TensorFlow for other tests carries allocator state that moves its RSS for reasons of its own. Two figures are
followed: RSS, and the bytes malloc has handed out and not had back (glibc's mallinfo2). RSS alone misses a small
leak: the first few hundred KB of one land in memory the heap already holds (a 10-byte leak a predict over 50k
predicts left RSS's slope flat); malloc's count shows every byte of a native leak (OpenCV, ONNX Runtime, numpy
buffers) at once, so a short run measures it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PREDICTS, PHOTOS = 20_000, 1_000
EVERY = 10  # predicts between samples (every photo is sampled)

SOAK = r'''
import json, sys
from pathlib import Path
import cv2
import numpy as np
from fmnist.data import fashion
from tests.memory import heap_bytes, rss_bytes
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.cutout import WORK_SIZE
from fmnist.runtime.image import read_image

predicts, photos_n, every = map(int, sys.argv[2:5])
assert "tensorflow" not in sys.modules
classifier = Classifier("edge", threads=1)  # the cut-out: segmentation is what could leak
images = fashion.load_split("test").images[:1000]
# real photos at a quarter of the preprocessing's working size: every stage runs (GrabCut too), at a soak's cost
side = WORK_SIZE // 4
photos = [cv2.resize(p, (side, round(side * p.shape[0] / p.shape[1])), interpolation=cv2.INTER_AREA)
          for p in map(read_image, sorted(Path(sys.argv[1]).glob("*.jpg")))]
# warm-up: arenas, caches and OpenCV's buffers reach their steady size; Python keeps one more block a photo until
# ~2,000 photos (the size of its tuple free list), RSS creeping ~40 bytes a photo until then
for i in range(2_700):
    classifier.predict(images[i % 1000 : i % 1000 + 1])
    if i % 4 != 0:
        classifier.classify(photos[i % len(photos)])
before = rss_bytes()
# samples go into arrays made beforehand: a list of them would grow by ~130 bytes a sample, a leak of the test's own
predict_rss, predict_heap = np.zeros(predicts // every, np.int64), np.zeros(predicts // every, np.int64)
for i in range(predicts):
    classifier.predict(images[i % 1000 : i % 1000 + 1])
    if i % every == 0:
        predict_rss[i // every], predict_heap[i // every] = rss_bytes(), heap_bytes()
labels, photo_rss, photo_heap = set(), np.zeros(photos_n, np.int64), np.zeros(photos_n, np.int64)
for i in range(photos_n):
    labels.add(classifier.classify(photos[i % len(photos)]).best.label)
    photo_rss[i], photo_heap[i] = rss_bytes(), heap_bytes()
print(json.dumps({"before": before, "after": rss_bytes(), "heap": heap_bytes(), "labels": sorted(labels),
                  "predicts": {"rss": predict_rss.tolist(), "heap": predict_heap.tolist()},
                  "photos": {"rss": photo_rss.tolist(), "heap": photo_heap.tolist()}}))
'''


def _growth_per_call(samples: list[int], every: int, stretches: int = 5) -> float:
    """Bytes per call, as a leak grows: in every stretch of the run. The median of the stretches' slopes (a straight
    line through the samples taken every `every` calls): a one-off step leaves it alone. There is one in the predicts,
    at a call that differs from run to run: malloc's figure rises ~530 KB and RSS falls ~408 KB at once."""
    calls, bytes_ = np.arange(len(samples)) * every, np.array(samples, dtype=np.float64)
    parts = zip(np.array_split(calls, stretches), np.array_split(bytes_, stretches), strict=True)
    return float(np.median([np.polyfit(x, y, 1)[0] for x, y in parts]))


@pytest.mark.slow
def test_memory_stays_flat_over_predicts_and_photos():
    """The trends of RSS and of malloc's bytes over 20k predicts and 1,000 photos, sampled every 10 predicts and
    every photo and fitted with a line, project to less than 5 % growth (of RSS) over a million predicts (a 10-byte
    leak a predict would show: malloc gives it 32) and over 100k photos (a 50-byte one a photo would)."""
    # fmnist turns ONNX Runtime's telemetry off (fmnist/__init__.py): left on, it tries an upload 9 s and 14.5 s after
    # the first session (a thread, a DNS look-up, ~700 KB of RSS once), a timer's step that no call causes
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    args = [str(ROOT / "examples" / "photos"), str(PREDICTS), str(PHOTOS), str(EVERY)]
    done = subprocess.run([sys.executable, "-c", SOAK, *args], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=env)  # cwd: tests.memory imports
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    before, after = got["before"], got["after"]
    assert got["heap"] > 0  # glibc: malloc's figure is there to follow
    for figure in ("rss", "heap"):
        assert _growth_per_call(got["predicts"][figure], EVERY) * 1_000_000 < 0.05 * before, figure
        assert _growth_per_call(got["photos"][figure], 1) * 100_000 < 0.05 * before, figure
    assert after < before * 1.02, (before, after)
    assert len(got["labels"]) > 1  # the work was real: the photos are not all given one label
