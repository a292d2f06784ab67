"""Pretrained backbones for the photo tier of `fmnist train-own --backbone NAME`: features learned on ImageNet.

Each entry builds a Keras feature extractor (RGB at a square size -> pooled features) with its weights read
offline, says how its input is normalised (recorded in the model's metadata, applied by the runtime) and
where fine-tuning starts: the layer whose output feeds the blocks that are trained. The 28x28 tier (`edge`,
the Fashion-MNIST backbone) is not here: fmnist.train.own_recipes lists every tier, one per backbone here.

To add one (for example a Keras application whose weights a user can download): a `Backbone` with a `build`
that returns the feature model and the name of its fine-tuning boundary. Importing this module does not
import TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Backbone:
    name: str
    summary: str
    default_size: int  # the input side in pixels without --size (any multiple of 32 works)
    mean: float  # x = (pixel - mean) / std, per RGB channel
    std: float
    tune_from: str  # the layer whose output is the boundary: everything after it is fine-tuned (a recipe's may differ)
    builder: Callable[[int], Any]  # size -> keras.Model (N, size, size, 3) -> (N, features)

    def build(self, size: int) -> Any:
        return self.builder(size)


def _lite0(size: int) -> Any:
    from fmnist.train.backbones import lite0

    return lite0.build(size)


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("lite0", "EfficientNet-Lite0 (ImageNet; ReLU6, no squeeze-excite: made for int8), 3.4 M params",
                 default_size=160, mean=127.0, std=128.0,
                 tune_from="blocks.10.add", builder=_lite0),
    )
}
