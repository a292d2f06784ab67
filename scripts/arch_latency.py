"""Latency of candidate architectures, int8 and fp32 ONNX, side by side with the notebook CNN (docs/model.md).

Each spec is a space-separated list of layers; the weights come from one short epoch on 3,000 training images
(enough for realistic batch-norm statistics and calibration; latency does not depend on accuracy).

    .venv/bin/python scripts/arch_latency.py "p2_32 c64 mp c128 gap" "c32 mp c64 mp c128 gap"

Tokens: cN conv 3x3 (N channels), sN conv 3x3 stride 2, p2_N conv 2x2 stride 2, k1_N conv 1x1, dw depthwise 3x3,
resN residual block of two 3x3 convs, mp max pool, gap global average pool, flat flatten, fcN dense + ReLU,
dP dropout. Every conv is conv + batch norm + ReLU. A dense 10 + softmax head is added.
Needs the [train] extra and runs/cnn/model.onnx (`fmnist train --model cnn --out runs/cnn` then export).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fmnist.core.meta import INPUT_SHAPE, NUM_CLASSES
from fmnist.core.tf import keras
from fmnist.core.timing import interleaved_p50_us
from fmnist.data import fashion
from fmnist.evaluation.predictors import runner
from fmnist.export.quantize import quantize_onnx
from fmnist.export.to_onnx import keras_to_onnx
from fmnist.runtime.preparation import CUTOUT
from fmnist.train.models import conv_bn_relu

L = keras.layers


def cbr(x: Any, filters: int, size: int = 3, strides: int = 1) -> Any:
    return conv_bn_relu(keras, x, filters, size, strides)


def layer(x: Any, token: str) -> Any:
    if token.startswith("p2_"):
        return cbr(x, int(token[3:]), 2, 2)
    if token.startswith("k1_"):
        return cbr(x, int(token[3:]), 1)
    if token.startswith("res"):
        f = int(token[3:])
        y = L.BatchNormalization()(L.Conv2D(f, 3, padding="same", use_bias=False)(cbr(x, f)))
        return L.ReLU()(L.Add()([x, y]))
    if token.startswith("fc"):
        return L.Dense(int(token[2:]), activation="relu")(x)
    fixed = {"mp": L.MaxPooling2D(), "gap": L.GlobalAveragePooling2D(), "flat": L.Flatten()}
    if token in fixed:
        return fixed[token](x)
    if token == "dw":
        return L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)))
    kinds = {"c": lambda n: cbr(x, n), "s": lambda n: cbr(x, n, 3, 2), "d": lambda p: L.Dropout(p)(x)}
    return kinds[token[0]]((float if token[0] == "d" else int)(token[1:]))


def build(spec: str) -> Any:
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
    for token in spec.split():
        x = layer(x, token)
    return keras.Model(inputs, L.Softmax(name="probs")(L.Dense(NUM_CLASSES)(x)))


def main(specs: list[str]) -> None:
    train, _ = fashion.load()
    x = CUTOUT.to_input(train.images[:3000])
    y = keras.utils.to_categorical(train.labels[:3000], NUM_CLASSES)
    files = {"notebook cnn, fp32": Path("runs/cnn/model.onnx")}
    work = Path(tempfile.mkdtemp(prefix="fmnist-arch-"))
    for i, spec in enumerate(specs):
        model = build(spec)
        model.compile("adam", "categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        fp32, int8 = work / f"{i}.onnx", work / f"{i}.int8.onnx"
        fp32.write_bytes(keras_to_onnx(model).SerializeToString())
        quantize_onnx(fp32, int8, x[:320])
        files |= {f"{spec}, fp32": fp32, f"{spec}, int8": int8}
    runs = {name: runner(path, 1) for name, path in files.items()}
    p50 = interleaved_p50_us(runs, x[:1], rounds=5, calls=1000)
    for name, run in runs.items():
        run(x[:256])
        started = time.perf_counter()
        for _ in range(20):
            run(x[:256])
        ips = 256 * 20 / (time.perf_counter() - started)
        print(f"{name:55s} batch 1: {p50[name]:6.1f} µs   batch 256: {ips:8,.0f} img/s   "
              f"{files[name].stat().st_size / 1024:5.0f} KB")


if __name__ == "__main__":
    main(sys.argv[1:] or ["c32 mp c64 mp c128 gap", "p2_32 c64 mp c128 gap"])
