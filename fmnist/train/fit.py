"""`fmnist train`: fit a registry model and write the run folder.

runs/<name>/ model.keras, history.json, metrics.json, curves.png, confusion.png, samples.png, errors.png
"""

from __future__ import annotations

import platform
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from fmnist import __version__, atomic, data
from fmnist.train import plots
from fmnist.train._deps import keras, tf
from fmnist.train.augment import augment_batch
from fmnist.train.models import REGISTRY, Recipe
from fmnist.train.progress import RichProgress
from fmnist.train.report import classification_report
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
    progress: bool = True
    command: str = ""  # the command line that ran this, recorded for reproducibility


def make_dataset(x: np.ndarray, y: np.ndarray, batch: int, *, train: bool, augment: bool, seed: int,
                 erase: float = 0.0) -> Any:
    ds = tf.data.Dataset.from_tensor_slices((x, tf.one_hot(y, 10)))
    if train:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch)
    if train and augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda xy, s: augment_batch(xy[0], xy[1], s, erase),
                                                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _optimizer(recipe: Recipe, steps: int) -> Any:
    if recipe.optimizer == "adamw":
        schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=steps)
        return keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay)
    return keras.optimizers.Adam(recipe.learning_rate)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train, evaluate on the full test set, and write the run folder. Returns metrics.json's content."""
    recipe = REGISTRY[cfg.model]
    epochs, batch = cfg.epochs or recipe.epochs, cfg.batch_size or recipe.batch_size
    out = Path(cfg.out or Path("runs") / cfg.model)
    location = data.locate(cfg.data_dir)
    train_split, test_split = data.load(location.path)

    x_all, y_all = train_split.images, train_split.labels
    if cfg.limit:
        subset = stratified_indices(y_all, cfg.limit, cfg.seed)
        x_all, y_all = x_all[subset], y_all[subset]
    fit_idx, val_idx = stratified_split(y_all, cfg.val_split, cfg.seed)

    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    fit_ds = make_dataset(data.to_model_input(x_all[fit_idx]), y_all[fit_idx], batch, train=True,
                          augment=recipe.augment, seed=cfg.seed, erase=recipe.erase)
    val_ds = make_dataset(data.to_model_input(x_all[val_idx]), y_all[val_idx], 512, train=False, augment=False, seed=0)
    steps = -(-len(fit_idx) // batch)

    model = recipe.build()
    model.compile(
        optimizer=_optimizer(recipe, steps * epochs),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )
    callbacks = [RichProgress(epochs, steps)] if cfg.progress else []
    started = time.perf_counter()
    with warnings.catch_warnings():  # Keras warns that shuffle=True is ignored for a (shuffled) tf.data input
        warnings.simplefilter("ignore", UserWarning)
        history = model.fit(fit_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=0).history
    train_seconds = time.perf_counter() - started

    probs = model.predict(data.to_model_input(test_split.images), batch_size=1024, verbose=0)
    report = classification_report(test_split.labels, probs)
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
        "data": {"path": str(location.path), "source": location.source},
        **{k: report[k] for k in ("per_class", "confusion")},
        "versions": {"fmnist": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }

    with atomic.atomic_path(out / "model.keras") as tmp:
        model.save(tmp)
    atomic.write_json(out / "history.json", {k: [float(v) for v in vs] for k, vs in history.items()})
    atomic.write_json(out / "metrics.json", metrics)
    plots.curves(history, out / "curves.png")
    plots.confusion(report["confusion"], out / "confusion.png")
    plots.samples(train_split.images, train_split.labels, out / "samples.png")
    plots.errors(test_split.images, test_split.labels, probs.argmax(axis=1), out / "errors.png")
    return metrics
