"""One way to open an onnxruntime session and run it: the file read once, within a size limit, and checked
(fmnist.core.model_check) before onnxruntime sees it; CPU, all graph optimizations, at most one thread per core;
onnxruntime's own log lines shown only with `fmnist --verbose`; a run that fails is one ModelError."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from fmnist.core.errors import ModelError, printable
from fmnist.core.model_check import check_model
from fmnist.core.verbosity import verbose

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
        info = os.stat(path)
    except OSError as e:
        raise ModelError(f"model {path} does not exist" if isinstance(e, FileNotFoundError)
                         else f"cannot read model {path} ({e.strerror or e})") from e
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"model {path} is not a regular file (a folder, a pipe or a device)")
    if info.st_size > MAX_MODEL_BYTES:
        raise ModelError(f"model {path} is {info.st_size / 1e6:,.0f} MB, over the {MAX_MODEL_BYTES // 1_000_000} MB "
                         "a model file may take; fmnist's models are a few MB")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MODEL_BYTES + 1)  # a file that grew since the stat is still cut at the limit
    except OSError as e:
        raise ModelError(f"cannot read model {path} ({e.strerror or e})") from e
    if len(data) > MAX_MODEL_BYTES:
        raise ModelError(f"model {path} grew past {MAX_MODEL_BYTES // 1_000_000} MB while it was read")
    return data


def make_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """`threads` intra-op threads (0 = one per core). ORT_ENABLE_ALL fuses QDQ pairs into int8 kernels. The session
    is made from the bytes that passed the check, so a file swapped after the check is never run."""
    data = read_model(Path(path))
    check_model(data, str(path))
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
