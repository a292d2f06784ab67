"""fmnist.train.exact_graph: a compiled forward pass gives the eager call's numbers to the bit, on the layers the photo
tier passes its views through (Lite0 to block 7, at a small size), and TensorFlow's process-wide setting is put
back on the way out, so that what is compiled after (the fit) is compiled as before."""

from __future__ import annotations

import numpy as np
import pytest

# TensorFlow is imported by these tests, not when they are collected (tests/test_augment.py says why)
pytestmark = [pytest.mark.xdist_group("tensorflow"), pytest.mark.slow]


@pytest.fixture(scope="module")
def bottom():
    from fmnist.core.tf import keras
    from fmnist.train.backbones import BACKBONES
    from fmnist.train.photo_model import TUNE_FROM

    full = BACKBONES["lite0"].build(32)
    return keras.Model(full.input, full.get_layer(TUNE_FROM).output)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 1, (8, 32, 32, 3)).astype(np.float32)


def test_the_compiled_pass_equals_the_eager_call_bit_for_bit(bottom, images):
    from fmnist.train.exact_graph import exact_forward

    eager = np.asarray(bottom(images, training=False))
    forward = exact_forward(bottom)
    whole, part = forward(images), forward(images[:3])  # a second batch shape compiles again, still exact
    assert np.array_equal(whole, eager) and np.array_equal(part, eager[:3])


def test_the_setting_is_put_back_after_and_on_an_error(bottom, images):
    from fmnist.core.tf import tf
    from fmnist.train.exact_graph import exact_graphs

    def compiled() -> np.ndarray:
        return np.asarray(tf.function(lambda x: bottom(x, training=False))(images))

    before, options = compiled(), tf.config.optimizer.get_experimental_options()
    with pytest.raises(RuntimeError), exact_graphs():
        raise RuntimeError("a failed pass")
    assert tf.config.optimizer.get_experimental_options() == {**options, "arithmetic_optimization": True}
    assert np.array_equal(compiled(), before)  # compiled as before the pass: Grappler's rewrite on again


def test_the_photo_tier_s_passes_equal_eager_calls_of_its_bottom(bottom, images, monkeypatch):
    """What the photo tier's training sees: its passes over a view as it is, an augmented view and the rows seen
    once, in batches of 3 (a part batch at the end of each), against the same batches called eagerly."""
    from fmnist.train import photo_tier
    from fmnist.train.backbones import BACKBONES

    backbone = BACKBONES["lite0"]
    monkeypatch.setattr(photo_tier, "PASS_BATCH", 3)
    recipe = photo_tier.TierRecipe(views=2, seed=5, progress=False)
    got = photo_tier._passes(bottom, images, images[:2], backbone, recipe, to_input=np.asarray)
    augment = photo_tier.view_augmenter(-backbone.mean / backbone.std, (255 - backbone.mean) / backbone.std, 5)
    batches = [images[i : i + 3] for i in range(0, len(images), 3)]
    seen = [*batches, *(augment(b, training=True) for b in batches), images[:2]]
    assert np.array_equal(got, np.concatenate([np.asarray(bottom(b, training=False)) for b in seen]))
