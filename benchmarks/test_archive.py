"""An archive's costs (issue 43): a phone-size JPEG (1000x1333) decoded at full size and at the scale the photo
model needs, one photo through classify's path, and a folder of them on every core against one process.
scripts/archive_bench.py times the same side by side on 2,000 photos, with today's way and Ray."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fmnist.runtime import workers
from fmnist.runtime.batch import classify_path
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.image import read_image
from scripts.archive_bench import make_photos

ROOT = Path(__file__).resolve().parent.parent
FOLDER_PHOTOS = 200
# --benchmark-disable (make test): each benchmark runs once, to prove it still works; the fewest photos that still
# take classify_all onto its pool of workers
UNMEASURED_PHOTOS = workers.SMALL


@pytest.fixture(scope="module")
def archive(tmp_path_factory, measured) -> list[Path]:
    folder = tmp_path_factory.mktemp("archive")
    return make_photos(ROOT / "examples" / "photos", FOLDER_PHOTOS if measured else UNMEASURED_PHOTOS, folder)


@pytest.fixture(scope="module")
def photo_model() -> Classifier:
    return Classifier("photo", threads=1)


def test_decode_a_phone_photo_full_size(benchmark, archive):
    data = np.fromfile(archive[0], np.uint8)
    benchmark.group = "archive"
    benchmark.extra_info.update(note="cv2.imdecode, 1000x1333, the yardstick")
    benchmark.pedantic(cv2.imdecode, args=(data, cv2.IMREAD_COLOR), rounds=50, warmup_rounds=3)


def test_decode_a_phone_photo_for_the_photo_model(benchmark, archive, photo_model):
    benchmark.group = "archive"
    benchmark.extra_info.update(note="read_image at the scale the 160 px crop needs: 1/4, 250x334")
    enough = photo_model.preparation.enough()
    benchmark.pedantic(read_image, args=(archive[0], enough), rounds=50, warmup_rounds=3)


def test_classify_a_phone_photo(benchmark, archive, photo_model):
    benchmark.group = "archive"
    benchmark.extra_info.update(threads=1, note="read once at 1/4, crop, infer: what a worker does per photo")
    benchmark.pedantic(classify_path, args=(photo_model, archive[0]), rounds=50, warmup_rounds=3)


@pytest.mark.parametrize("cores", [1, 2])
def test_classify_a_folder(benchmark, archive, photo_model, cores):
    folder = str(archive[0].parent)
    benchmark.group = "archive folder"
    benchmark.extra_info.update(photos=len(archive), workers=cores, note="classify_all, pool start-up included")
    count = benchmark.pedantic(lambda: sum(1 for _ in workers.classify_all(photo_model, [folder], cores)), rounds=3)
    assert count == len(archive)
