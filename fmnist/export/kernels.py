"""Which ops onnxruntime really runs for a file: the graph after ORT_ENABLE_ALL, as op types.

An int8 file only pays if its QuantizeLinear/DequantizeLinear pairs fuse into int8 kernels (QLinearConv,
QGemm, ...). A compute op left in float means the quantization did not take there.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

INT8_KERNELS = {"QGemm", "NhwcMaxPool", "MatMulInteger", "ConvInteger"}  # and every QLinear* op
FLOAT_COMPUTE = {"Conv", "FusedConv", "NchwcConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul", "MaxPool",
                 "NchwcMaxPool", "AveragePool", "GlobalAveragePool", "Add"}


def optimized_ops(path: Path) -> list[str]:
    """The op types of the graph onnxruntime runs for `path` on this machine, in graph order."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="fmnist-kernels-") as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3  # it warns that the saved graph is specific to this CPU: that is the point
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return [node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node]


def is_int8_kernel(op: str) -> bool:
    return op.startswith("QLinear") or op in INT8_KERNELS


def summary(ops: list[str]) -> dict[str, object]:
    """{"int8": {op: count}, "float": {op: count}} over the compute ops; layout and Q/DQ ops are left out."""
    counts = Counter(ops)
    return {"int8": {op: n for op, n in counts.items() if is_int8_kernel(op)},
            "float": {op: n for op, n in counts.items() if op in FLOAT_COMPUTE}}
