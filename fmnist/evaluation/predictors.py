"""The one harness: run a batch of model inputs (float32, as the model's preparation makes them: (N, 28, 28, 1)
for the cut-out, (N, S, S, 3) for the photo tier's crop) through a .keras, .onnx or .tflite file and get
(N, labels) float32 probabilities. The parity gate, `fmnist evaluate` and `fmnist bench` all go through here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.calls import in_calls, step_rows
from fmnist.core.errors import DependencyError, ModelError
from fmnist.core.meta import TFLITE_MAGIC
from fmnist.core.quiet import quiet_stderr

Predict = Callable[[np.ndarray], np.ndarray]


def _chunked(run: Callable[[np.ndarray], np.ndarray]) -> Predict:
    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(in_calls(run, x), dtype=np.float32)

    return predict


def load_keras(path: Path) -> Any:
    from fmnist.core.tf import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)  # refuses Lambda layers' code
    except Exception as e:  # Keras raises ValueError, OSError, zipfile errors… for a bad file
        raise ModelError(f"cannot load {path} as a Keras model ({type(e).__name__}: {e}); "
                         "re-run fmnist train to write it again") from e


def keras_predictor(model: Any) -> Predict:
    return lambda x: np.asarray(model.predict(x, batch_size=step_rows(x.shape[1:]), verbose=0), dtype=np.float32)


def _onnx(path: Path, threads: int | None) -> Predict:
    from fmnist.core.session import make_session, run

    session = make_session(path, threads or 0)
    name = session.get_inputs()[0].name
    return lambda x: run(session, {name: x}, path)


def quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(detail["dtype"])


def dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return y
    scale, zero = detail["quantization"]
    return (y.astype(np.float32) - zero) * scale


def _tflite(path: Path, threads: int | None) -> Predict:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise DependencyError("running .tflite models needs ai-edge-litert: pip install ai-edge-litert") from e
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    allocated = [0]

    def run(x: np.ndarray) -> np.ndarray:
        if allocated[0] != len(x):
            interpreter.resize_tensor_input(inp["index"], (len(x), *inp["shape"][1:]))
            with quiet_stderr():  # LiteRT announces its XNNPACK delegate on fd 2 here
                interpreter.allocate_tensors()
            allocated[0] = len(x)
        interpreter.set_tensor(inp["index"], quantize(x, inp))
        interpreter.invoke()
        return dequantize(interpreter.get_tensor(out["index"]), out)

    return run


def _kind(path: Path) -> str:
    """"tflite", "onnx" or "keras", from the file's content and suffix."""
    if not path.is_file():
        raise ModelError(f"model {path} does not exist")
    if path.open("rb").read(8)[4:8] == TFLITE_MAGIC:
        return "tflite"
    if path.suffix in (".onnx", ".keras"):
        return path.suffix[1:]
    raise ModelError(f"cannot run {path}: expected a .keras, .onnx or .tflite model")


def runner(path: Path, threads: int | None = 1) -> Predict:
    """Raw inference of an .onnx or .tflite file: one call per batch of any size, no chunking (for timing)."""
    path = Path(path)
    kind = _kind(path)
    if kind == "keras":
        raise ModelError(f"{path}: raw runners exist for .onnx and .tflite files")
    return (_tflite if kind == "tflite" else _onnx)(path, threads)


def open_model(path: Path, threads: int | None = 1) -> Predict:
    """A predict function for any fmnist model file, picked by its content and suffix (threads None: default)."""
    path = Path(path)
    if _kind(path) == "keras":
        return keras_predictor(load_keras(path))
    return _chunked(runner(path, threads))
