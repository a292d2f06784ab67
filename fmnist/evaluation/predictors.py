"""The one harness: run a batch of model inputs (float32, as the model's preparation makes them: (N, 28, 28, 1)
for the cut-out, (N, S, S, 3) for the photo tier's crop) through any model file and get (N, labels) float32
probabilities. The parity gate, `fmnist evaluate` and `fmnist bench` all go through here. Which runner opens a file
is its format's (fmnist.core.formats); the runners of .keras, .onnx and .tflite files are here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.calls import in_calls, step_rows
from fmnist.core.errors import DependencyError, ModelError
from fmnist.core.formats import detect, part
from fmnist.core.quiet import quiet_stderr
from fmnist.evaluation.keras_archive import check_keras_archive

Predict = Callable[[np.ndarray], np.ndarray]


def _chunked(run: Callable[[np.ndarray], np.ndarray]) -> Predict:
    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(in_calls(run, x), dtype=np.float32)

    return predict


def load_keras(path: Path) -> Any:
    check_keras_archive(path)
    from fmnist.core.tf import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)  # refuses Lambda layers' code
    except Exception as e:  # Keras raises ValueError, OSError, zipfile errors… for a bad file
        raise ModelError(f"cannot load {path} as a Keras model ({type(e).__name__}: {e}); "
                         "re-run fmnist train to write it again") from e


def keras_predictor(model: Any) -> Predict:
    return lambda x: np.asarray(model.predict(x, batch_size=step_rows(x.shape[1:]), verbose=0), dtype=np.float32)


def keras_opener(path: Path, threads: int | None) -> Predict:
    """A .keras file for the harness: Keras' own predict in steps (threads: TensorFlow's)."""
    return keras_predictor(load_keras(path))


def keras_runner(path: Path, threads: int | None) -> Predict:
    """A .keras file called directly, one call per batch (bench's timing, in a process of its own): TensorFlow's
    intra-op threads set first, unless it has already started."""
    from fmnist.core.tf import tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads or 0)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started in this process: its threads stay as they are
        pass
    model = load_keras(path)
    return lambda x: np.asarray(model(x, training=False), dtype=np.float32)


def onnx_runner(path: Path, threads: int | None) -> Predict:
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


def tflite_runner(path: Path, threads: int | None) -> Predict:
    """A .tflite file through LiteRT, checked first (fmnist.evaluation.tflite_check); a batch larger than one call
    may take within the check's memory bound runs in several calls."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise DependencyError("running .tflite models needs ai-edge-litert: pip install ai-edge-litert") from e
    from fmnist.evaluation.tflite_check import check_tflite, checking

    checked = check_tflite(checking(path), str(path))
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    allocated = [0]

    def call(x: np.ndarray) -> np.ndarray:
        if allocated[0] != len(x):
            interpreter.resize_tensor_input(inp["index"], (len(x), *checked.input_shape))
            with quiet_stderr():  # LiteRT announces its XNNPACK delegate on fd 2 here
                interpreter.allocate_tensors()
            allocated[0] = len(x)
        interpreter.set_tensor(inp["index"], quantize(x, inp))
        interpreter.invoke()
        return dequantize(interpreter.get_tensor(out["index"]), out)

    def run(x: np.ndarray) -> np.ndarray:
        if tuple(x.shape[1:]) != checked.input_shape:
            raise ModelError(f"{path} takes images of {checked.input_shape}, but its metadata makes them "
                             f"{tuple(x.shape[1:])}; export the model again with fmnist export")
        return in_calls(call, x, checked.max_rows)

    return run


def runner(path: Path, threads: int | None = 1) -> Predict:
    """Raw inference of a model file: one call per batch of any size, no chunking (for timing)."""
    return part(detect(path).runner)(Path(path), threads)


def open_model(path: Path, threads: int | None = 1) -> Predict:
    """A predict function for any fmnist model file, its format told by its content or suffix (threads None:
    default): its format's opener, or its runner called in steps."""
    path = Path(path)
    found = detect(path)
    if found.opener:
        return part(found.opener)(path, threads)
    return _chunked(part(found.runner)(path, threads))
