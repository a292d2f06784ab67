"""The loss and the metric that read fmnist.train.photo_targets' rows.

- flag 1, a candidate set: loss (1 - MAIN_PULL) * -log(sum of p over the set) + MAIN_PULL * cross-entropy against
  the weights. The first term's gradient is that of cross-entropy against the model's own belief restricted to the
  set, so a longsleeve may be a confident Pullover *or* Shirt; the second pulls it toward the folder's main label.
  With one label both terms are plain cross-entropy;
- flag 0, a fixed soft target: cross-entropy against it (the uniform distribution: unsure).
Label smoothing mixes in the uniform term for every row.
"""

from __future__ import annotations

from typing import Any

from fmnist.core.meta import NUM_CLASSES
from fmnist.core.tf import keras, tf
from fmnist.train.photo_targets import SET

EPSILON = 1e-7
MAIN_PULL = 0.5


def make_loss(label_smoothing: float = 0.0) -> Any:
    def photo_aware_loss(y_true: Any, y_pred: Any) -> Any:
        weights, is_set = y_true[:, :NUM_CLASSES], y_true[:, SET]
        probs = tf.clip_by_value(y_pred, EPSILON, 1.0)
        log_p = tf.math.log(probs)
        in_set = -tf.math.log(tf.clip_by_value(tf.reduce_sum(tf.cast(weights > 0, probs.dtype) * probs, 1),
                                               EPSILON, 1.0))
        soft = -tf.reduce_sum(weights * log_p, 1)
        main = tf.where(is_set > 0.5, (1.0 - MAIN_PULL) * in_set + MAIN_PULL * soft, soft)
        return (1.0 - label_smoothing) * main + label_smoothing * -tf.reduce_mean(log_p, 1)

    return photo_aware_loss


class SetAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy over candidate-set rows: the top label is in the set. Uniform-target rows count as hits
    when the model is unsure (top probability below 0.5)."""

    def __init__(self, name: str = "accuracy", **kwargs: Any) -> None:
        def hit(y_true: Any, y_pred: Any) -> Any:
            weights, is_set = y_true[:, :NUM_CLASSES], y_true[:, SET]
            top = tf.argmax(y_pred, axis=1)
            in_set = tf.gather(weights, top, axis=1, batch_dims=1) > 0
            unsure = tf.reduce_max(y_pred, axis=1) < 0.5
            return tf.cast(tf.where(is_set > 0.5, in_set, unsure), tf.float32)

        super().__init__(hit, name=name, **kwargs)
