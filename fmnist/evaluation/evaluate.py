"""`fmnist evaluate --model MODEL`: the full test-set report for a .keras, .onnx or .tflite model, one harness for all,
and, given a folder of real photos, the photo figures at the model's "not sure" threshold.

A model trained on its own labels is judged on its run's held-out photos instead of the Fashion-MNIST test
set, and on a photo folder by folder name (fmnist.evaluation.testset)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fmnist.data.fetch_photos import photos_home
from fmnist.evaluation.photo_figures import photo_figures
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import load_photos
from fmnist.evaluation.photo_truth import codes_by_eye, photo_truth
from fmnist.evaluation.predictors import open_model
from fmnist.evaluation.report import classification_report
from fmnist.evaluation.testset import describe, test_set_for


def default_photos() -> Path | None:
    """The fetched photo set's validation folder, when `fmnist data fetch photos` has run."""
    folder = photos_home() / "validation"
    return folder if folder.is_dir() else None


def evaluate(path: Path, data_dir: Path | None = None, threads: int | None = None, photos: Path | None = None,
             photo_map: Path | None = None, threshold: float | None = None,
             skipped: Callable[[Path, str], None] | None = None, fetched_photos: bool = False) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix on the 10,000 test images (own labels:
    the held-out photos); with `photos`, also "photos": strict, lenient, per folder, coverage and abstention.
    With `fetched_photos` and no `photos`, a model of Fashion-MNIST's labels is judged on the fetched photo set's
    validation folder, if any (no default folder fits a model's own labels). Each photo that could not be read is
    left out of the figures and given to `skipped` (path, why)."""
    described = describe(Path(path))  # refuses a model made for another preprocessing
    test = test_set_for(Path(path), data_dir, described)
    if photos is None and fetched_photos and not test.own:
        photos = default_photos()
    predict = open_model(Path(path), threads)
    report = {"model": str(path), "labels": test.names, "data": test.what,
              **classification_report(test.labels, test.probs(predict), test.names)}
    if photos is not None:
        photo_set = load_photos(photos, preparation=described.preparation)
        for photo, why in photo_set.skipped if skipped else ():
            skipped(photo, why)
        cut = described.threshold if threshold is None else threshold
        pmap = PhotoMap.own(test.names) if test.own else PhotoMap.load(photo_map)
        probs = test.probs(predict, photo_set.images)
        truth = photo_truth(photo_set, pmap, codes_by_eye(photo_set, pmap))  # strict by the labels given by eye
        report["photos"] = photo_figures(probs, photo_set, pmap, cut, truth).to_json()
    return report
