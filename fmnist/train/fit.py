"""`fmnist train --model NAME` for a 28x28 network (fmnist.train.models): fit it on Fashion-MNIST and judge it.

runs/<name>/ model.keras, history.json, metrics.json, curves.png, confusion.png, samples.png, errors.png
(+ photo_confusion.png with --photos-val)

With --photos, real photos (through the runtime's own `preprocess`) join Fashion-MNIST for the recipe's
last `photo_epochs` epochs, on one cosine schedule: earlier epochs pretrain on Fashion-MNIST alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from fmnist.core.errors import UsageError
from fmnist.core.owned import OwnedFile
from fmnist.data import fashion
from fmnist.data.split import stratified_indices, stratified_split
from fmnist.evaluation.photo_figures import PhotoFigures
from fmnist.evaluation.report import classification_report
from fmnist.runtime.preparation import CUTOUT
from fmnist.train import plots
from fmnist.train.loop import Fitted, Phase, fit, make_dataset, optimizer, seed_everything
from fmnist.train.models import Network
from fmnist.train.photo_data import PhotoData, load_photo_data, photo_report
from fmnist.train.photo_loss import MAIN_PULL, SetAccuracy, make_loss
from fmnist.train.photo_targets import fmnist_targets, mixed_arrays, oversampling
from fmnist.train.recipe import RunConfig, Trained


@dataclass(frozen=True)
class Inputs:
    """What one run learns from and is judged on."""

    location: fashion.Location
    train: fashion.Split  # the training split (or its --limit subset)
    test: fashion.Split
    fit_idx: np.ndarray  # rows of `train` fitted on
    val_idx: np.ndarray  # rows of `train` held out for validation
    photos: PhotoData | None  # --photos, to learn from
    validation: PhotoData | None  # --photos-val, to report on and choose the threshold with


def _inputs(cfg: RunConfig) -> Inputs:
    location = fashion.locate(cfg.data_dir)
    train_split, test_split = fashion.load(location.path)
    photos = load_photo_data(cfg.photos, cfg.photo_map, cfg.progress) if cfg.photos else None
    validation = load_photo_data(cfg.photos_val, cfg.photo_map, cfg.progress) if cfg.photos_val else None
    if cfg.limit:
        subset = stratified_indices(train_split.labels, cfg.limit, cfg.seed)
        train_split = fashion.Split(train_split.images[subset], train_split.labels[subset])
    fit_idx, val_idx = stratified_split(train_split.labels, cfg.val_split, cfg.seed)
    return Inputs(location, train_split, test_split, fit_idx, val_idx, photos, validation)


@dataclass(frozen=True)
class Mix:
    """How photos join training: for the last `epochs` epochs, as `share` of the samples."""

    epochs: int
    share: float
    balance: bool


def _mix(cfg: RunConfig, network: Network, epochs: int, photos: PhotoData | None) -> Mix:
    balance = network.photo_balance
    if photos is None:
        return Mix(0, 0.0, balance)
    share = cfg.photo_share
    if share is None or not 0 < share < 1:
        raise UsageError(f"--photo-share must be between 0 and 1, got {share}")
    return Mix(min(cfg.photo_epochs or epochs, epochs), share, balance)


def _phases(cfg: RunConfig, network: Network, epochs: int, batch: int, inputs: Inputs, mix: Mix) -> list[Phase]:
    """Fashion-MNIST alone, then (with --photos) Fashion-MNIST and photos mixed, on one schedule."""
    x_fit = CUTOUT.to_input(inputs.train.images[inputs.fit_idx])
    y_fit = fmnist_targets(inputs.train.labels[inputs.fit_idx])
    options = {"augment": network.augment, "seed": cfg.seed, "erase": network.erase}
    phases = []
    if epochs - mix.epochs:
        phases.append(Phase(epochs - mix.epochs, make_dataset(x_fit, y_fit, batch, train=True, **options), len(x_fit)))
    if mix.epochs and inputs.photos is not None:
        photos = inputs.photos
        x_mix, y_mix = mixed_arrays(x_fit, y_fit, photos.x, photos.targets, mix.share, cfg.seed,
                                    photos.folder_index, mix.balance)
        data = make_dataset(x_mix, y_mix, batch, train=True, light=network.photo_light, **options)
        phases.append(Phase(mix.epochs, data, len(x_mix)))
    return phases


def _mix_record(cfg: RunConfig, network: Network, epochs: int, inputs: Inputs, mix: Mix) -> dict[str, Any] | None:
    """metrics.json's account of how photos joined training (None without --photos)."""
    photos = inputs.photos
    if photos is None:
        return None
    n_fit = len(inputs.fit_idx)
    return {"photos": str(cfg.photos), "n_photos": len(photos.x), "skipped": len(photos.set.skipped),
            "left_out_empty": int(photos.set.empty.sum()), "photo_map": photos.pmap.source,
            "share": mix.share, "oversampling": round(oversampling(n_fit, len(photos.x), mix.share), 2),
            "photo_epochs": mix.epochs, "pretrain_epochs": epochs - mix.epochs,
            "folders_balanced": mix.balance, "light_augmentation": network.photo_light,
            "multi_label_folders": f"candidate set, pulled {MAIN_PULL} toward the main label",
            "no_label_folders": "uniform target"}


def _metrics(cfg: RunConfig, network: Network, fitted: Fitted, inputs: Inputs, report: dict[str, Any],
             settings: dict[str, Any], mix: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "model": network.name,
        "summary": network.summary,
        "command": cfg.command,
        "params": int(fitted.model.count_params()),
        "test_accuracy": report["accuracy"],
        "val_accuracy": round(float(fitted.history["val_accuracy"][-1]), 4),
        "train_seconds": round(fitted.seconds, 1),
        "config": {**settings, "seed": cfg.seed, "val_split": cfg.val_split, "limit": cfg.limit,
                   "n_train": len(inputs.fit_idx), "n_val": len(inputs.val_idx)},
        "recipe": {"photo_mix": mix},
        "data": {"path": str(inputs.location.path), "source": inputs.location.source},
        **{k: report[k] for k in ("per_class", "confusion")},
    }


def _files(inputs: Inputs, probs: np.ndarray, report: dict[str, Any],
           figures: PhotoFigures | None) -> dict[str, Callable[[OwnedFile], None]]:
    """The run's pictures (fashion_recipes.FashionRecipe.files), each with its writer."""
    files: dict[str, Callable[[OwnedFile], None]] = {
        "confusion.png": partial(plots.confusion, report["confusion"]),
        "samples.png": partial(plots.samples, inputs.train.images, inputs.train.labels),
        "errors.png": partial(plots.errors, inputs.test.images, inputs.test.labels, probs.argmax(axis=1))}
    if figures is not None:
        files["photo_confusion.png"] = partial(plots.photo_confusion, figures)
    return files


def fit_fashion(cfg: RunConfig, network: Network) -> Trained:
    """Train `network` as its recipe says, evaluate it on the full test set (and on --photos-val)."""
    epochs, batch = cfg.epochs, cfg.batch_size
    inputs = _inputs(cfg)
    mix = _mix(cfg, network, epochs, inputs.photos)
    seed_everything(cfg.seed)
    phases = _phases(cfg, network, epochs, batch, inputs, mix)
    val_ds = make_dataset(CUTOUT.to_input(inputs.train.images[inputs.val_idx]),
                          fmnist_targets(inputs.train.labels[inputs.val_idx]), 512, train=False, augment=False, seed=0)
    model = network.build()
    model.compile(optimizer=optimizer(network.optimizer, network.learning_rate, network.weight_decay,
                                      sum(p.epochs * p.steps(batch) for p in phases)),
                  loss=make_loss(network.label_smoothing), metrics=[SetAccuracy()])
    fitted = fit(model, phases, val_ds, batch, cfg.progress)

    probs = model.predict(CUTOUT.to_input(inputs.test.images), batch_size=1024, verbose=0)
    report = classification_report(inputs.test.labels, probs)
    metrics = _metrics(cfg, network, fitted, inputs, report, {"epochs": epochs, "batch_size": batch},
                       _mix_record(cfg, network, epochs, inputs, mix))
    figures = None
    if inputs.validation is not None:
        assert cfg.coverage is not None  # taken, with its default (fashion_recipes.FashionRecipe.defaults)
        val_probs = model.predict(inputs.validation.x_all, batch_size=1024, verbose=0)
        figures, metrics["decision"] = photo_report(val_probs, inputs.validation, cfg.coverage)
        metrics["photos"] = figures.to_json()
    return Trained(fitted, metrics, CUTOUT, _files(inputs, probs, report, figures))
