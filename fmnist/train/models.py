"""The Fashion-MNIST networks: each name maps to an architecture and the settings that train it (the recipe
registry's `train --model` entries, fmnist.train.fashion_recipes, take their defaults from here).

Importing this module does not import TensorFlow; `Network.build()` does. Every model takes
(N, 28, 28, 1) float32 in [0, 1] and returns (N, 10) probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fmnist.core.meta import INPUT_SHAPE, NUM_CLASSES


@dataclass(frozen=True)
class Network:
    name: str
    summary: str
    architecture: Callable[[Any], Any]  # keras module -> tensor -> tensor (the body, before the classifier)
    epochs: int
    batch_size: int
    learning_rate: float = 1e-3
    optimizer: str = "adam"  # "adam" or "adamw" (with weight decay and a cosine schedule)
    weight_decay: float = 0.0
    augment: bool = False  # random shift and horizontal flip, in tf.data (never in the exported graph)
    label_smoothing: float = 0.0
    erase: float = 0.0  # random-erasing probability (with augment)
    # with --photos (docs/model.md): photos make this share of the samples of each epoch they are in,
    # for the last `photo_epochs` epochs (None: all of them), with photo-like light augmentation
    photo_share: float = 0.25
    photo_epochs: int | None = None
    photo_light: bool = True
    photo_balance: bool = True  # every photo folder drawn equally often

    def build(self) -> Any:
        """A fresh, uncompiled keras.Model."""
        from fmnist.core.tf import keras

        inputs = keras.Input(shape=INPUT_SHAPE, name="image")
        logits = self.architecture(keras)(inputs)
        probs = keras.layers.Softmax(name="probs")(logits)
        return keras.Model(inputs, probs, name=self.name)


def _mlp(widths: tuple[int, ...]) -> Callable[[Any], Any]:
    def body(keras: Any) -> Callable[[Any], Any]:
        L = keras.layers

        def apply(x: Any) -> Any:
            x = L.Flatten()(x)
            for w in widths:
                x = L.Dense(w, activation="relu")(x)
            return L.Dense(NUM_CLASSES, name="logits")(x)

        return apply

    return body


def _notebook_cnn(keras: Any) -> Callable[[Any], Any]:
    """The Keras tutorial CNN: conv 32-64-64 with two 2x2 pools, dense 64."""
    L = keras.layers

    def apply(x: Any) -> Any:
        x = L.Conv2D(32, 3, activation="relu")(x)
        x = L.MaxPooling2D()(x)
        x = L.Conv2D(64, 3, activation="relu")(x)
        x = L.MaxPooling2D()(x)
        x = L.Conv2D(64, 3, activation="relu")(x)
        x = L.Flatten()(x)
        x = L.Dense(64, activation="relu")(x)
        return L.Dense(NUM_CLASSES, name="logits")(x)

    return apply


def conv_bn_relu(keras: Any, x: Any, filters: int, size: int = 3, strides: int = 1) -> Any:
    """Conv (no bias: batch norm has one), batch norm, ReLU; the norm folds into the conv at export."""
    L = keras.layers
    x = L.Conv2D(filters, size, strides=strides, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    return L.ReLU()(x)


def _edge(keras: Any) -> Callable[[Any], Any]:
    """Our default, shaped by int8 latency (docs/model.md): a 2x2 stride-2 stem (space-to-depth, no pixel
    dropped) so no conv runs at 28x28, conv-BN-ReLU (BN folds away at export), global average pooling."""
    L = keras.layers

    def apply(x: Any) -> Any:
        x = conv_bn_relu(keras, x, 24, size=2, strides=2)  # 14x14
        x = conv_bn_relu(keras, x, 48)
        x = L.MaxPooling2D()(x)  # 7x7
        x = conv_bn_relu(keras, x, 96)
        x = conv_bn_relu(keras, x, 96)
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dropout(0.2)(x)
        return L.Dense(NUM_CLASSES, name="logits")(x)

    return apply


REGISTRY: dict[str, Network] = {
    r.name: r
    for r in (
        Network("edge", "2x2/2 stem 24, conv-BN-ReLU 48/96/96, global average pool; shift/flip/erasing, AdamW, "
               "cosine schedule, label smoothing",
               _edge, epochs=36, batch_size=128, learning_rate=3e-3, optimizer="adamw", weight_decay=1e-4,
               augment=True, erase=0.5, label_smoothing=0.1, photo_share=0.2, photo_epochs=12),
        Network("cnn", "the Keras tutorial CNN: conv 32-64-64, dense 64; Adam",
               _notebook_cnn, epochs=5, batch_size=64),
        Network("mlp", "the Keras tutorial MLP: dense 128", _mlp((128,)), epochs=10, batch_size=32),
        Network("mlp2", "a two-layer MLP: dense 128, dense 64", _mlp((128, 64)), epochs=10, batch_size=32),
    )
}
DEFAULT_MODEL = "edge"
