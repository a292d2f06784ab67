"""Batch normalization's moving statistics without the weight of a new layer's starting values.

Keras keeps a BatchNormalization layer's moving mean and variance, the ones inference uses, as an exponential
average: it starts from 0 and 1 in a new layer, and each training step moves it by 1 - momentum toward the batch's
statistics. After T steps the 0 and 1 still weigh momentum**T: 0.99**172 = 0.18 after 4 epochs on 6,000 images,
where a new network's first layer has a true variance near 0.02, so the average reads 0.17 and the network answers
one class on every image (16 % on the test set, 78 % with the batches' own statistics). Dividing that weight out,
as Adam corrects its moments, leaves the average of the batches' statistics.

Only new layers that learn are corrected: Keras updates no frozen layer, and a pretrained layer's starting values
(the own classes' 28x28 tier starts from the shipped edge network's) are statistics of their own, worth keeping in
the blend. The validation between epochs sees the corrected statistics, and training goes on from the raw
average; at the end the corrected ones are kept. Once the 0 and 1 weigh less than NEGLIGIBLE (1,375 steps at
momentum 0.99) nothing is changed, so a long run's model is exactly what Keras gives; only the validation figures
of its first epochs (the first three of the shipped edge recipe's, 422 steps each) are those of the corrected
statistics.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from fmnist.core.tf import keras

NEGLIGIBLE = 1e-6


def batch_norms(layer: Any) -> Iterator[Any]:
    """The BatchNormalization layers in a model, nested models included, each once."""
    seen: set[int] = set()
    stack = list(reversed(getattr(layer, "layers", [])))
    while stack:
        sub = stack.pop()
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        if isinstance(sub, keras.layers.BatchNormalization):
            yield sub
        else:
            stack.extend(reversed(getattr(sub, "layers", [])))


def is_new(bn: Any) -> bool:
    """A layer's moving statistics are still a new layer's: mean 0 and variance 1 everywhere."""
    return bool(np.all(bn.moving_mean.numpy() == 0.0) and np.all(bn.moving_variance.numpy() == 1.0))


class UnbiasedMovingStats(keras.callbacks.Callback):
    """Corrects a compiled model's new, learning BatchNormalization layers' moving statistics for the validation of
    every `fit` it is passed to (one per phase of fmnist.train.loop.fit) and, by `keep()`, for good. The steps are
    the optimizer's since this was made (all the phases', one schedule)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.layers = [bn for bn in batch_norms(model) if bn.trainable and is_new(bn)]
        self.optimizer = model.optimizer
        self.start = int(self.optimizer.iterations)
        self.raw: list[tuple[Any, Any]] = []

    @property
    def steps(self) -> int:
        return int(self.optimizer.iterations) - self.start

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.raw = [(bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in self.layers]
        self._correct()

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        for bn, (mean, variance) in zip(self.layers, self.raw, strict=True):
            bn.moving_mean.assign(mean)
            bn.moving_variance.assign(variance)
        self.raw = []

    def keep(self) -> None:
        """After the last phase: the corrected statistics become the model's."""
        self._correct()

    def _correct(self) -> None:
        steps = self.steps
        for bn in self.layers:
            weight = float(bn.momentum) ** steps
            if weight < NEGLIGIBLE or weight >= 1.0 or is_new(bn):  # is_new: never updated, nothing to correct
                continue
            bn.moving_mean.assign(bn.moving_mean.numpy() / (1.0 - weight))  # from 0
            variance = (bn.moving_variance.numpy() - weight) / (1.0 - weight)  # from 1
            bn.moving_variance.assign(np.maximum(variance, 0.0))  # rounding may leave a variance near 0 below it
