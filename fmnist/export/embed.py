"""Write the fmnist metadata into a model file: the writers of fmnist.core.formats' .onnx and .tflite entries, each
(raw path, ModelMeta) -> the file's bytes with it (the reader is fmnist.core.meta.read_meta)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from fmnist import __version__
from fmnist.core.meta import INPUT_BASE, META_KEY, ModelMeta


def doc_string(meta: ModelMeta) -> str:
    """The ONNX file's one-line description: what it classifies (Fashion-MNIST, or its own classes), its precision and
    its input."""
    labels = ", ".join(meta.labels)
    what = (f"fmnist classifier of {len(meta.labels)} own classes: {labels} ({meta.precision})" if meta.own_labels
            else f"Fashion-MNIST classifier ({meta.precision}); labels: {labels}")
    return f"{what}; input: {meta.preprocessing}" if meta.preprocessing else what


def embed_onnx(path: Path, meta: ModelMeta) -> bytes:
    """The ONNX file's bytes with `metadata_props["fmnist"]` set (replacing any earlier value), its description, and
    its input's (the preprocessing in words)."""
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props if p.key != META_KEY}
    props[META_KEY] = meta.to_json()
    onnx.helper.set_model_props(model, props)
    model.producer_name, model.producer_version = "fmnist", __version__
    model.doc_string = doc_string(meta)
    for value in model.graph.input:
        if value.name == INPUT_BASE["name"] and meta.preprocessing:
            value.doc_string = meta.preprocessing
    return model.SerializeToString()


def tflite_input(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """The input spec as the file really takes it: a full-integer TFLite takes int8, quantized."""
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    if detail["dtype"] == np.float32:
        return spec
    scale, zero = detail["quantization"]
    return spec | {"dtype": np.dtype(detail["dtype"]).name, "quantization": {"scale": scale, "zero_point": zero},
                   "quantize": "q = clip(round(x / scale) + zero_point), x the float input above"}


def embed_tflite(path: Path, meta: ModelMeta) -> bytes:
    """The flatbuffer with a `fmnist` entry in its metadata table pointing at a JSON buffer; its input spec as the
    file takes it (tflite_input)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    meta = replace(meta, input=tflite_input(path, meta.input))
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(Path(path).read_bytes()))
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() != META_KEY]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(meta.to_json().encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = META_KEY, len(model.buffers) - 1
    model.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
