"""Which convolutions of a QDQ int8 ONNX file run in float: the tests' view of `export --float-convs`."""

from __future__ import annotations

from pathlib import Path

import onnx


def conv_is_float(path: Path) -> list[bool]:
    """Per Conv node in graph order: True when its weights are a float initializer, not a DequantizeLinear's
    output (a quantized conv's weights are stored as int8 and dequantized in the graph)."""
    graph = onnx.load(str(path)).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    return [node.input[1] not in dequantized for node in graph.node if node.op_type == "Conv"]
