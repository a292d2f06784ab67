"""The one training loop, for every recipe (fmnist.train.registry): seed, batches in tf.data, the optimizer and its
schedule, fit in phases with a progress display. fmnist.train.run writes what it gives.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from fmnist.core.tf import keras, tf
from fmnist.train.augment import augment_batch
from fmnist.train.moving_stats import UnbiasedMovingStats
from fmnist.train.progress import RichProgress


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow seeded, and TensorFlow's ops deterministic: the same seed repeats a run."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def make_dataset(x: np.ndarray, y: np.ndarray, batch: int, *, train: bool, augment: bool, seed: int,
                 erase: float = 0.0, light: bool = False, all_photos: bool = False) -> Any:
    """x (N, 28, 28, 1) float32; y (N, 12) targets (fmnist.train.photo_targets), or with `all_photos` (every image
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


@dataclass(frozen=True)
class Phase:
    """Epochs over one dataset. Fashion-MNIST fitting with photos has two: Fashion-MNIST alone, then mixed."""

    epochs: int
    data: Any  # a batched tf.data.Dataset
    samples: int  # per epoch

    def steps(self, batch: int) -> int:
        return -(-self.samples // batch)


WEIGHT_DECAY = 1e-4  # AdamW's, for the own tiers and the photo model


def optimizer(name: str, learning_rate: float, weight_decay: float, steps: int, warmup: int = 0) -> Any:
    """"adamw": AdamW on a cosine schedule over all `steps` (after `warmup` steps rising linearly from 0);
    "adam": Adam at a fixed rate (the notebook's)."""
    if name == "adamw":
        if warmup:
            schedule = keras.optimizers.schedules.CosineDecay(0.0, max(1, steps - warmup), warmup_target=learning_rate,
                                                              warmup_steps=warmup)
        else:
            schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
        return keras.optimizers.AdamW(schedule, weight_decay=weight_decay)
    return keras.optimizers.Adam(learning_rate)


@dataclass(frozen=True)
class Fitted:
    model: Any
    history: dict[str, list[float]]  # per epoch, over every phase
    seconds: float


def fit(model: Any, phases: list[Phase], validation: Any, batch: int, progress: bool, title: str = "") -> Fitted:
    """Fit a compiled model through the phases, on one schedule, with one epoch count for the progress display
    (its lines start with `title`, where a run fits twice); its batch normalization statistics freed of their
    starting values (fmnist.train.moving_stats)."""
    epochs = sum(p.epochs for p in phases)
    history: dict[str, list[float]] = {}
    started, done = time.perf_counter(), 0
    stats = UnbiasedMovingStats(model)
    with warnings.catch_warnings():  # Keras warns that shuffle=True is ignored for a (shuffled) tf.data input
        warnings.simplefilter("ignore", UserWarning)
        for phase in phases:
            callbacks = [*([stats] if stats.layers else []),
                         *([RichProgress(epochs, phase.steps(batch), start=done, title=title)] if progress else [])]
            got = model.fit(phase.data, validation_data=validation, epochs=done + phase.epochs, initial_epoch=done,
                            callbacks=callbacks, verbose=0).history
            for k, vs in got.items():
                history.setdefault(k, []).extend(float(v) for v in vs)
            done += phase.epochs
    stats.keep()
    return Fitted(model, history, time.perf_counter() - started)
