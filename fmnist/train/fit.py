"""`fmnist train`: fit a registry model and write the run folder.

runs/<name>/ model.keras, history.json, metrics.json, curves.png, confusion.png, samples.png, errors.png
(+ photo_confusion.png with --photos-val)

With --photos, real photos (through the runtime's own `preprocess`) join Fashion-MNIST for the recipe's
last `photo_epochs` epochs, on one cosine schedule: earlier epochs pretrain on Fashion-MNIST alone.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core import atomic
from fmnist.core.errors import UsageError
from fmnist.core.tf import keras, tf
from fmnist.data import fashion
from fmnist.evaluation.report import classification_report
from fmnist.runtime.decision import COVERAGE
from fmnist.train import plots
from fmnist.train.augment import augment_batch
from fmnist.train.models import REGISTRY, Recipe
from fmnist.train.photo_data import PhotoData, load_photo_data, photo_report
from fmnist.train.photo_mix import MAIN_PULL, SetAccuracy, fmnist_targets, make_loss, mixed_arrays, oversampling
from fmnist.train.progress import RichProgress
from fmnist.train.provenance import provenance
from fmnist.train.split import stratified_indices, stratified_split


@dataclass(frozen=True)
class TrainConfig:
    model: str = "edge"
    out: Path | None = None  # default runs/<model>
    epochs: int | None = None  # default: the recipe's
    batch_size: int | None = None
    seed: int = 0
    val_split: float = 0.1
    limit: int | None = None  # train on a stratified subset of this many images (for tests)
    data_dir: Path | None = None
    photos: Path | None = None  # a folder of class folders of real photos to learn from
    photos_val: Path | None = None  # photos to report on and choose the "not sure" threshold with
    photo_map: Path | None = None  # folder -> labels (default: fmnist/assets/photo_map.json)
    photo_share: float | None = None  # default: the recipe's
    photo_epochs: int | None = None  # default: the recipe's (None there: every epoch)
    photo_balance: bool | None = None  # default: the recipe's
    coverage: float = COVERAGE  # the threshold answers this share of mapped validation photos
    progress: bool = True
    command: str = ""  # the command line that ran this, recorded for reproducibility


def make_dataset(x: np.ndarray, y: np.ndarray, batch: int, *, train: bool, augment: bool, seed: int,
                 erase: float = 0.0, light: bool = False, all_photos: bool = False) -> Any:
    """x (N, 28, 28, 1) float32; y (N, 12) targets (fmnist.train.photo_mix), or with `all_photos` (every image
    a photo: own-label training) any targets."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if train:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch)
    if train and augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda xy, s: augment_batch(xy[0], xy[1], s, erase, light,
                                                                                   all_photos),
                                                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _optimizer(recipe: Recipe, steps: int) -> Any:
    if recipe.optimizer == "adamw":
        schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=steps)
        return keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay)
    return keras.optimizers.Adam(recipe.learning_rate)


def _phases(cfg: TrainConfig, recipe: Recipe, epochs: int, photos: PhotoData | None) -> tuple[int, float]:
    """(epochs with photos, photo share) for this run."""
    if photos is None:
        return 0, 0.0
    share = recipe.photo_share if cfg.photo_share is None else cfg.photo_share
    with_photos = cfg.photo_epochs or recipe.photo_epochs or epochs
    if not 0 < share < 1:
        raise UsageError(f"--photo-share must be between 0 and 1, got {share}")
    return min(with_photos, epochs), share


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train, evaluate on the full test set, and write the run folder. Returns metrics.json's content."""
    recipe = REGISTRY[cfg.model]
    epochs, batch = cfg.epochs or recipe.epochs, cfg.batch_size or recipe.batch_size
    out = Path(cfg.out or Path("runs") / cfg.model)
    location = fashion.locate(cfg.data_dir)
    train_split, test_split = fashion.load(location.path)
    photos = load_photo_data(cfg.photos, cfg.photo_map, cfg.progress) if cfg.photos else None
    validation = load_photo_data(cfg.photos_val, cfg.photo_map, cfg.progress) if cfg.photos_val else None

    x_all, y_all = train_split.images, train_split.labels
    if cfg.limit:
        subset = stratified_indices(y_all, cfg.limit, cfg.seed)
        x_all, y_all = x_all[subset], y_all[subset]
    fit_idx, val_idx = stratified_split(y_all, cfg.val_split, cfg.seed)
    photo_epochs, share = _phases(cfg, recipe, epochs, photos)
    balance = recipe.photo_balance if cfg.photo_balance is None else cfg.photo_balance

    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    x_fit, y_fit = fashion.to_model_input(x_all[fit_idx]), fmnist_targets(y_all[fit_idx])
    options = {"augment": recipe.augment, "seed": cfg.seed, "erase": recipe.erase}
    phases = []  # (epochs, dataset, steps per epoch)
    if epochs - photo_epochs:
        phases.append((epochs - photo_epochs, make_dataset(x_fit, y_fit, batch, train=True, **options), len(x_fit)))
    if photo_epochs and photos is not None:
        x_mix, y_mix = mixed_arrays(x_fit, y_fit, photos.x, photos.targets, share, cfg.seed, photos.folder_index,
                                    balance)
        mix = make_dataset(x_mix, y_mix, batch, train=True, light=recipe.photo_light, **options)
        phases.append((photo_epochs, mix, len(x_mix)))
    phases = [(e, ds, -(-n // batch)) for e, ds, n in phases]
    val_ds = make_dataset(fashion.to_model_input(x_all[val_idx]), fmnist_targets(y_all[val_idx]), 512, train=False,
                          augment=False, seed=0)

    model = recipe.build()
    model.compile(optimizer=_optimizer(recipe, sum(e * s for e, _, s in phases)),
                  loss=make_loss(recipe.label_smoothing), metrics=[SetAccuracy()])
    history: dict[str, list[float]] = {}
    started, done = time.perf_counter(), 0
    with warnings.catch_warnings():  # Keras warns that shuffle=True is ignored for a (shuffled) tf.data input
        warnings.simplefilter("ignore", UserWarning)
        for phase_epochs, ds, steps in phases:
            callbacks = [RichProgress(epochs, steps, start=done)] if cfg.progress else []
            got = model.fit(ds, validation_data=val_ds, epochs=done + phase_epochs, initial_epoch=done,
                            callbacks=callbacks, verbose=0).history
            for k, vs in got.items():
                history.setdefault(k, []).extend(float(v) for v in vs)
            done += phase_epochs
    train_seconds = time.perf_counter() - started

    probs = model.predict(fashion.to_model_input(test_split.images), batch_size=1024, verbose=0)
    report = classification_report(test_split.labels, probs)
    mix = None
    if photos is not None:
        mix = {"photos": str(cfg.photos), "n_photos": len(photos.x), "skipped": len(photos.set.skipped),
               "left_out_empty": int(photos.set.empty.sum()), "photo_map": photos.pmap.source,
               "share": share, "oversampling": round(oversampling(len(x_fit), len(photos.x), share), 2),
               "photo_epochs": photo_epochs, "pretrain_epochs": epochs - photo_epochs,
               "folders_balanced": balance, "light_augmentation": recipe.photo_light,
               "multi_label_folders": f"candidate set, pulled {MAIN_PULL} toward the main label",
               "no_label_folders": "uniform target"}
    metrics = {
        "model": recipe.name,
        "summary": recipe.summary,
        "command": cfg.command,
        "params": int(model.count_params()),
        "test_accuracy": report["accuracy"],
        "val_accuracy": round(float(history["val_accuracy"][-1]), 4),
        "train_seconds": round(train_seconds, 1),
        "config": {"epochs": epochs, "batch_size": batch, "seed": cfg.seed, "val_split": cfg.val_split,
                   "limit": cfg.limit, "n_train": len(fit_idx), "n_val": len(val_idx)},
        "recipe": {"photo_mix": mix},
        "data": {"path": str(location.path), "source": location.source},
        **{k: report[k] for k in ("per_class", "confusion")},
        **provenance(),
    }
    if validation is not None:
        val_probs = model.predict(validation.x_all, batch_size=1024, verbose=0)
        metrics["photos"], metrics["decision"] = photo_report(val_probs, validation, cfg.coverage)

    with atomic.atomic_path(out / "model.keras") as tmp:
        model.save(tmp)
    atomic.write_json(out / "history.json", history)
    atomic.write_json(out / "metrics.json", metrics)
    plots.curves(history, out / "curves.png")
    plots.confusion(report["confusion"], out / "confusion.png")
    plots.samples(train_split.images, train_split.labels, out / "samples.png")
    plots.errors(test_split.images, test_split.labels, probs.argmax(axis=1), out / "errors.png")
    if "photos" in metrics:
        plots.photo_confusion(metrics["photos"], out / "photo_confusion.png")
    return metrics
