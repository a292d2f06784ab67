from __future__ import annotations

import numpy as np
import pytest

from fmnist.train.models import DEFAULT_MODEL, REGISTRY

# each test builds Keras models: in the worker that imports TensorFlow for tests/test_augment.py too, so that
# make check's other worker never loads it (its import takes about 4 s of CPU here)
pytestmark = pytest.mark.xdist_group("tensorflow")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_model_shapes_and_probabilities(name):
    model = REGISTRY[name].build()
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 10)
    probs = np.asarray(model(np.random.default_rng(0).random((3, 28, 28, 1), np.float32)))
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


# the parameter counts the README and docs/model.md state for each architecture
PARAMS = {"edge": 136_906, "cnn": 93_322, "mlp": 101_770, "mlp2": 109_386}


def test_registry_models_have_their_documented_size():
    assert DEFAULT_MODEL == "edge"
    assert {name: recipe.build().count_params() for name, recipe in REGISTRY.items()} == PARAMS


def test_the_edge_stem_drops_no_pixel_and_no_conv_runs_at_28x28():
    """docs/model.md: a 2x2 stride-2 stem (space-to-depth), so every later layer works at 14x14 or less."""
    model = REGISTRY["edge"].build()
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert convs[0].kernel_size == (2, 2) and convs[0].strides == (2, 2)
    assert all(layer.output.shape[1] <= 14 for layer in convs)
