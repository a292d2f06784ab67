"""One way to open an onnxruntime session and run it: the file read once, within a size limit, and checked
(fmnist.core.model_check) before onnxruntime sees it; CPU, all graph optimizations, at most one thread per core;
onnxruntime's own log lines shown only with `fmnist --verbose`; a run that fails is one ModelError."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from fmnist.core import checked_models
from fmnist.core.bounded import read_bounded
from fmnist.core.errors import ModelError, printable
from fmnist.core.verbosity import verbose

if TYPE_CHECKING:
    from fmnist.core.model_check import Checked

MAX_MODEL_BYTES = 200_000_000  # the photo model is 4 MB, Lite0 in fp32 at 224 px 14 MB
QUIET, ERRORS = 4, 3  # onnxruntime's log severities: fatal only, errors


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def usable_threads(threads: int) -> int:
    """`threads` intra-op threads, at most one per core (0: onnxruntime's choice, one per core)."""
    return min(max(0, threads), cores())


def read_model(path: Path) -> bytes:
    """A model file's bytes: a regular file of at most MAX_MODEL_BYTES, its size checked before it is read."""
    try:
        return read_bounded(path, MAX_MODEL_BYTES, "a model file may take", ModelError, "fmnist's models are a few MB")
    except FileNotFoundError as e:
        raise ModelError(f"model {path} does not exist") from e
    except OSError as e:
        raise ModelError(f"cannot read model {path} ({e.strerror or e})") from e


def make_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """`threads` intra-op threads (0 = one per core). ORT_ENABLE_ALL fuses QDQ pairs into int8 kernels. The session
    is made from the bytes that passed the check, so a file swapped after the check is never run."""
    data = read_model(Path(path))
    _check(data, str(path))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = usable_threads(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = ERRORS if verbose() else QUIET
    ort.set_default_logger_severity(ERRORS if verbose() else QUIET)
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf/InvalidGraph types
        raise ModelError(f"{path} is not a loadable ONNX model ({printable(str(e).splitlines()[0], 200)})") from e


def _check(data: bytes, where: str) -> None:
    """fmnist.core.model_check on the bytes, unless these very bytes passed it before (fmnist.core.checked_models)."""
    if not checked_models.passed_before(checked_models.marker(data)):
        check(data, where)


def check(data: bytes, where: str) -> Checked:
    """fmnist.core.model_check on the bytes, its pass remembered; imported here, so that a start with a model checked
    before never imports protobuf."""
    from fmnist.core.model_check import check_model

    checked = check_model(data, where)
    checked_models.remember(checked_models.marker(data))
    return checked


def max_rows(path: Path) -> int:
    """The most images one call of the ONNX file at `path` may take within the model check's bounds (its pass is
    remembered: a session made next skips the check)."""
    return check(read_model(path), str(path)).max_rows()


def model_props(session: ort.InferenceSession, where: object) -> dict[str, str]:
    """The model's metadata_props as text; a key or value that is not UTF-8 is one ModelError."""
    try:
        return dict(session.get_modelmeta().custom_metadata_map)
    except UnicodeDecodeError as e:
        raise ModelError(f"{where}: its metadata is not UTF-8 text; export the model again with fmnist export") from e


def run(session: ort.InferenceSession, feeds: dict[str, np.ndarray], where: object) -> Any:
    """The session's first output for `feeds`; a run that fails (a model that passed the check but cannot run on
    this input) is one ModelError naming the model, its log line only with --verbose."""
    options = ort.RunOptions()
    options.log_severity_level = ERRORS if verbose() else QUIET
    try:
        return session.run(None, feeds, options)[0]
    except Exception as e:  # onnxruntime's Fail, InvalidArgument, RuntimeException…
        raise ModelError(f"{where} failed when run ({printable(str(e).splitlines()[0] if str(e) else e, 200)}); "
                         "is it a model exported by fmnist?") from e
