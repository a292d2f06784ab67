"""Real photos in training: their targets, the loss that reads them, and the mixed tf.data pipeline.

Targets are (N, 11) float32: ten label weights, then a flag.
- flag 1, a candidate set (a Fashion-MNIST image: one label; a photo folder mapped to several labels):
  loss -log(sum of p over the set). Its gradient is that of cross-entropy against a soft target, the
  model's own belief restricted to the set, so a longsleeve can be a confident Pullover *or* Shirt;
- flag 0, a fixed soft target (a folder mapped to no label): cross-entropy against the uniform
  distribution, which teaches the model to be unsure.
Label smoothing mixes in the uniform term for every row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fmnist.meta import NUM_CLASSES
from fmnist.runtime.photomap import PhotoMap
from fmnist.runtime.photos import PhotoSet
from fmnist.train._deps import keras, tf

EPSILON = 1e-7


def fmnist_targets(labels: np.ndarray) -> np.ndarray:
    out = np.zeros((len(labels), NUM_CLASSES + 1), np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    out[:, NUM_CLASSES] = 1.0
    return out


def photo_targets(photos: PhotoSet, pmap: PhotoMap) -> np.ndarray:
    """One target row per photo, from its folder's labels (see the module doc)."""
    pmap.check(photos.folders)
    out = np.zeros((len(photos), NUM_CLASSES + 1), np.float32)
    for i, folder in enumerate(photos.folders):
        rows, labels = photos.folder_index == i, list(pmap.accepted[folder])
        if labels:
            weights = np.zeros(NUM_CLASSES, np.float32)
            weights[labels] = 1.0 / len(labels)
            out[rows, :NUM_CLASSES], out[rows, NUM_CLASSES] = weights, 1.0
        else:
            out[rows, :NUM_CLASSES] = 1.0 / NUM_CLASSES
    return out


def make_loss(label_smoothing: float = 0.0) -> Any:
    def photo_aware_loss(y_true: Any, y_pred: Any) -> Any:
        weights, is_set = y_true[:, :NUM_CLASSES], y_true[:, NUM_CLASSES]
        probs = tf.clip_by_value(y_pred, EPSILON, 1.0)
        log_p = tf.math.log(probs)
        in_set = -tf.math.log(tf.clip_by_value(tf.reduce_sum(tf.cast(weights > 0, probs.dtype) * probs, 1),
                                               EPSILON, 1.0))
        soft = -tf.reduce_sum(weights * log_p, 1)
        main = tf.where(is_set > 0.5, in_set, soft)
        return (1.0 - label_smoothing) * main + label_smoothing * -tf.reduce_mean(log_p, 1)

    return photo_aware_loss


class SetAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy over candidate-set rows: the top label is in the set. Uniform-target rows count as hits
    when the model is unsure (top probability below 0.5)."""

    def __init__(self, name: str = "accuracy", **kwargs: Any) -> None:
        def hit(y_true: Any, y_pred: Any) -> Any:
            weights, is_set = y_true[:, :NUM_CLASSES], y_true[:, NUM_CLASSES]
            top = tf.argmax(y_pred, axis=1)
            in_set = tf.gather(weights, top, axis=1, batch_dims=1) > 0
            unsure = tf.reduce_max(y_pred, axis=1) < 0.5
            return tf.cast(tf.where(is_set > 0.5, in_set, unsure), tf.float32)

        super().__init__(hit, name=name, **kwargs)


def oversampling(n_fmnist: int, n_photos: int, share: float) -> float:
    """How many times each photo is seen per epoch so that photos make `share` of the samples."""
    return share / (1.0 - share) * n_fmnist / max(1, n_photos)


def mixed_arrays(x_fm: np.ndarray, y_fm: np.ndarray, x_ph: np.ndarray, y_ph: np.ndarray, share: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST once and the photos repeated (whole copies, then a random part) to reach `share`."""
    factor = oversampling(len(x_fm), len(x_ph), share)
    whole, part = int(factor), factor - int(factor)
    extra = np.random.default_rng(seed).permutation(len(x_ph))[: round(part * len(x_ph))]
    idx = np.concatenate([np.tile(np.arange(len(x_ph)), whole), extra])
    return np.concatenate([x_fm, x_ph[idx]]), np.concatenate([y_fm, y_ph[idx]])
