from __future__ import annotations

import numpy as np
import pytest

from fmnist.train.models import DEFAULT_MODEL, REGISTRY


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_model_shapes_and_probabilities(name):
    model = REGISTRY[name].build()
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 10)
    probs = np.asarray(model(np.random.default_rng(0).random((3, 28, 28, 1), np.float32)))
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_registry_names_the_design_models():
    assert set(REGISTRY) == {"edge", "cnn", "mlp", "mlp2"} and DEFAULT_MODEL == "edge"
    assert REGISTRY["cnn"].build().count_params() == 93_322  # the Keras tutorial CNN, as measured there
