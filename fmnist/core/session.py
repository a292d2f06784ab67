"""One way to open an onnxruntime session: CPU, all graph optimizations, a chosen thread count."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from fmnist.core.errors import ModelError


def make_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """`threads` intra-op threads (0 = one per core). ORT_ENABLE_ALL fuses QDQ pairs into int8 kernels."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only; a model it cannot load still raises
    if not Path(path).is_file():
        raise ModelError(f"model {path} does not exist")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf/InvalidGraph types
        raise ModelError(f"{path} is not a loadable ONNX model ({str(e).splitlines()[0]})") from e
