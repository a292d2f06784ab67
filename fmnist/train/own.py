"""`fmnist train-own PHOTOS`: a model whose labels are PHOTOS' folder names (2 to 50), in one of its tiers.

The tiers (fmnist.train.own_recipes) own what differs between them: the preprocessing their model takes and
how they fit (the 28x28 tier: fmnist.train.cutout_tier; a photo tier: fmnist.train.photo_tier). This is what
they share: the photos read and split (fmnist.train.own_data), then the held-out photos' report, the "not sure"
threshold chosen on them, and the files beside the model. The figures, the threshold and the export's parity
gate all come from the held-out photos.

runs/<name>/: model.keras, metrics.json (labels, per-class table, decision, preprocessing), own_data.npz (the
held-out photos as prepared arrays, and training photos for int8 calibration), history.json, curves.png,
photo_confusion.png
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from fmnist.core.owned import OwnedFile
from fmnist.evaluation.photo_figures import PhotoFigures, choose_threshold, decision_record, photo_figures
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.report import classification_report
from fmnist.evaluation.testset import OWN_DATA
from fmnist.runtime.kind import Preparation
from fmnist.train import plots
from fmnist.train.loop import Fitted, seed_everything
from fmnist.train.own_data import OwnData, own_data
from fmnist.train.recipe import RunConfig, Trained

TierFit = Callable[[RunConfig, OwnData], tuple[Fitted, dict[str, Any]]]  # a tier's fit: the model, how it was made


def _held(cfg: RunConfig) -> str:
    """The held-out photos, as the run card names them."""
    return str(cfg.photos_val or f"{cfg.holdout:.0%} of each folder")


def _metrics(cfg: RunConfig, model_name: str, data: OwnData, fitted: Fitted, recipe: dict[str, Any],
             report: dict[str, Any], figures: PhotoFigures) -> dict[str, Any]:
    return {
        "model": model_name, "command": cfg.command, "labels": data.labels,
        "params": int(fitted.model.count_params()), "heldout_accuracy": report["accuracy"],
        "train_seconds": round(fitted.seconds, 1),
        "own_labels": {"photos": str(cfg.photos), "heldout": _held(cfg),
                       "n_learn": int(data.found.sum()), "n_heldout": len(data.held),
                       "left_out_empty": int((~data.found).sum()), "per_class": cfg.per_class,
                       **recipe},
        "per_class": report["per_class"], "confusion": report["confusion"],
        "photos": figures.to_json(), "decision": decision_record(figures, cfg.coverage, _held(cfg)),
    }


def _save_own_data(data: OwnData, path: OwnedFile) -> None:
    """The held-out photos (to judge and gate the model on) and up to the preparation's `calib_photos` training
    photos (int8 calibration), as prepared arrays beside the model."""
    learned = data.learn.images[data.found]
    count = data.preparation.calib_photos
    calib = learned[np.random.default_rng(0).permutation(len(learned))[:count]]
    with path.writing() as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, heldout_images=data.held.images, heldout_labels=data.held.folder_index,
                            heldout_empty=data.held.empty, calib_images=calib)


def fit_own(cfg: RunConfig, preparation: Preparation, fit: TierFit, model_name: str) -> Trained:
    """Learn the photo folders' names as labels with a tier's `fit`, and judge the model on the held-out photos."""
    data = own_data(cfg, preparation)
    seed_everything(cfg.seed)
    fitted, recipe = fit(cfg, data)
    probs = fitted.model.predict(data.preparation.to_input(data.held.images), batch_size=128, verbose=0)
    report = classification_report(data.held.folder_index, probs, data.labels)
    pmap = PhotoMap.own(data.labels)
    assert cfg.coverage is not None  # every tier takes it (own_recipes.Tier.defaults)
    figures = photo_figures(probs, data.held, pmap, choose_threshold(probs, data.held, pmap, cfg.coverage))
    return Trained(fitted, _metrics(cfg, model_name, data, fitted, recipe, report, figures), data.preparation,
                   {OWN_DATA: partial(_save_own_data, data), "photo_confusion.png": partial(plots.photo_confusion,
                                                                                             figures)})
