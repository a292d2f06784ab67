"""Training augmentation on real images: every output is a shift/flip of its input (plus at most one erased
rectangle), a seed repeats it, and labels pass through untouched."""

from __future__ import annotations

import numpy as np
import pytest

from fmnist.data import fashion
from fmnist.runtime.preparation import CUTOUT

# TensorFlow is imported by these tests, not when they are collected: every pytest worker collects every file,
# and a TensorFlow import costs each about 5 s of CPU. They share one worker, and are slow for that import (3.6 s
# of make check's 30 here, which loads TensorFlow for nothing else)
pytestmark = [pytest.mark.xdist_group("tensorflow"), pytest.mark.slow]


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def augment_batch(*args, **options):
    from fmnist.train.augment import augment_batch

    return augment_batch(*args, **options)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    train, _ = fashion.load()
    return CUTOUT.to_input(train.images[:200])


def _explained(original: np.ndarray, out: np.ndarray) -> tuple[float, int]:
    """Best (fraction of equal pixels, number of unequal pixels) over the 25 shifts x 2 flips."""
    padded = np.pad(original[:, :, 0], 2)
    best = (0.0, 28 * 28)
    for dy in range(5):
        for dx in range(5):
            crop = padded[dy:dy + 28, dx:dx + 28]
            for candidate in (crop, crop[:, ::-1]):
                unequal = int((np.abs(candidate - out[:, :, 0]) > 1e-6).sum())
                best = max(best, (1 - unequal / 784, unequal), key=lambda b: b[0])
    return best


def test_shift_and_flip_only_move_pixels(tf, images):
    out, labels = augment_batch(tf.constant(images), tf.range(200), tf.constant([3, 4], tf.int64))
    out = out.numpy()
    assert out.shape == images.shape and out.dtype == np.float32
    assert np.array_equal(labels.numpy(), np.arange(200))
    assert all(_explained(images[i], out[i])[1] == 0 for i in range(40))
    assert not np.array_equal(out, images)  # something moved


def test_erasing_covers_at_most_one_14px_square(tf, images):
    out, _ = augment_batch(tf.constant(images), tf.range(200), tf.constant([5, 6], tf.int64), erase=1.0)
    unequal = [_explained(images[i], out.numpy()[i])[1] for i in range(40)]
    assert max(unequal) <= 14 * 14 and sum(u > 0 for u in unequal) >= 20  # most images lose a visible patch


def test_a_seed_repeats_the_augmentation_and_another_seed_does_not(tf, images):
    def run(seed: int) -> np.ndarray:
        return augment_batch(tf.constant(images), tf.range(200), tf.constant([seed, 0], tf.int64), erase=0.5)[0]

    assert np.array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_photo_light_changes_only_photos_and_keeps_the_background_black(tf, images):
    targets = np.zeros((200, 12), np.float32)
    targets[100:, -1] = 1.0  # the second half are photos
    seed = tf.constant([7, 8], tf.int64)
    lit = augment_batch(tf.constant(images), tf.constant(targets), seed, light=True)[0].numpy()
    plain = augment_batch(tf.constant(images), tf.constant(targets), seed, light=False)[0].numpy()  # same moves
    assert np.array_equal(lit[:100], plain[:100])  # Fashion-MNIST rows: moved, never lit
    relit = [not np.allclose(lit[i], plain[i]) for i in range(100, 200)]
    assert 30 <= sum(relit) <= 70  # about half the photos get a new gamma and gain
    assert lit.min() >= 0 and lit.max() <= 1 and (lit[plain == 0] == 0).all()  # black stays black
