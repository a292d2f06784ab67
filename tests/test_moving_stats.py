"""Batch normalization after a short fit (fmnist.train.moving_stats): a new layer's inference statistics are the
batches' own, not still mostly its starting 0 and 1; a frozen or pretrained layer and a long run are left exactly as
Keras leaves them."""

from __future__ import annotations

import numpy as np
import pytest

# TensorFlow is imported by these tests, not when they are collected (tests/test_augment.py says why)
pytestmark = [pytest.mark.xdist_group("tensorflow"), pytest.mark.slow]

MEAN, STD = 5.0, 0.1  # the features' true statistics, far from a new layer's 0 and 1


def _model(frozen: bool = False, pretrained: bool = False):
    """A BatchNormalization, then a frozen (or a pretrained) one, under a softmax, compiled; (the model, its two
    BatchNormalization layers)."""
    from fmnist.core.tf import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    learning, still = keras.layers.BatchNormalization(), keras.layers.BatchNormalization()
    still.trainable = not frozen
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(still(learning(inputs))))
    if pretrained:  # statistics a fit elsewhere left
        still.moving_mean.assign(np.full(3, 0.1, np.float32))
        still.moving_variance.assign(np.full(3, 0.9, np.float32))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, learning, still


def _fit(frozen: bool = False, pretrained: bool = False):
    """_model's, fit by fmnist's training loop in two phases of one epoch: 512 rows, batches of 64, 8 steps each;
    (the model, its two BatchNormalization layers, the fit)."""
    from fmnist.core.tf import tf
    from fmnist.train.loop import Phase, fit

    model, learning, still = _model(frozen, pretrained)
    rng = np.random.default_rng(0)
    x = rng.normal(MEAN, STD, (512, 3)).astype(np.float32)
    y = (x[:, 0] > MEAN).astype(np.int64)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    fitted = fit(model, [Phase(1, data, len(x)), Phase(1, data, len(x))], data.take(2), 64, progress=False)
    return model, learning, still, fitted


def test_a_short_fit_keeps_the_batches_statistics_not_the_starting_ones():
    _, learning, still, fitted = _fit(frozen=True)  # 16 steps over two phases: Keras' average still weighs 0 and 1
    # 0.99**16 = 0.85
    assert np.allclose(learning.moving_mean.numpy(), MEAN, atol=0.03)  # Keras alone: 0.15 * 5 = 0.74
    assert np.allclose(learning.moving_variance.numpy(), STD**2, rtol=0.3)  # Keras alone: 0.85
    assert np.array_equal(still.moving_mean.numpy(), np.zeros(3)) and np.array_equal(still.moving_variance.numpy(),
                                                                                       np.ones(3))
    assert len(fitted.history["val_loss"]) == 2


def test_a_pretrained_layer_keeps_keras_blend_of_its_own_statistics_and_the_batches():
    _, _, still, _ = _fit(pretrained=True)
    # its input, the first layer's output, has a mean near 0: Keras' blend keeps 0.99**16 = 0.85 of the 0.1 it
    # started from (divided out as a new layer's 0, it would read 0.57)
    assert np.allclose(still.moving_mean.numpy(), 0.1 * 0.99**16, atol=0.02)


def test_validation_sees_the_corrected_statistics_and_training_goes_on_from_keras_own():
    from fmnist.train.moving_stats import UnbiasedMovingStats

    model, learning, _ = _model()
    stats = UnbiasedMovingStats(model)
    assert len(stats.layers) == 2
    learning.moving_mean.assign(np.full(3, 0.5, np.float32))  # as Keras leaves a new layer's after 8 steps
    model.optimizer.iterations.assign(8)
    raw = [bn.moving_variance.numpy().copy() for bn in stats.layers]
    stats.on_test_begin()
    assert np.allclose(learning.moving_mean.numpy(), 0.5 / (1 - 0.99**8), rtol=1e-5)
    stats.on_test_end()
    assert np.array_equal(learning.moving_mean.numpy(), np.full(3, 0.5, np.float32))
    assert all(np.array_equal(bn.moving_variance.numpy(), r) for bn, r in zip(stats.layers, raw, strict=True))


def test_a_long_fit_is_left_bit_for_bit_as_keras_leaves_it():
    from fmnist.train.moving_stats import UnbiasedMovingStats

    model, learning, _ = _model()
    stats = UnbiasedMovingStats(model)
    learning.moving_mean.assign(np.full(3, 4.99, np.float32))
    before = [(bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()) for bn in stats.layers]
    model.optimizer.iterations.assign(1375)  # the starting values weigh 0.99**1375 < 1e-6
    stats.keep()
    assert all(np.array_equal(bn.moving_mean.numpy(), m) and np.array_equal(bn.moving_variance.numpy(), v)
               for bn, (m, v) in zip(stats.layers, before, strict=True))
    model.optimizer.iterations.assign(1374)  # one step fewer: corrected
    stats.keep()
    assert not np.array_equal(learning.moving_mean.numpy(), before[0][0])


def test_nested_models_batch_norms_are_found_once():
    from fmnist.core.tf import keras
    from fmnist.train.moving_stats import batch_norms

    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, keras.layers.BatchNormalization(name="inner_bn")(inner_in))
    outer_in = keras.Input((4,))
    outer = keras.Model(outer_in, keras.layers.BatchNormalization(name="outer_bn")(inner(outer_in)))
    assert [bn.name for bn in batch_norms(outer)] == ["inner_bn", "outer_bn"]
