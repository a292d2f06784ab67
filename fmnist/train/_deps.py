"""The one place the training side imports TensorFlow, so a missing extra is a clear error.

TensorFlow's C++ start-up prints oneDNN/CUDA notices to fd 2 before its logging is configured, which
no environment variable silences; they are hidden while it imports and initialises its devices.
Python exceptions are unaffected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from fmnist.errors import needs_train_extra


@contextmanager
def _quiet_fd2() -> Iterator[None]:
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    with _quiet_fd2():
        import keras
        import tensorflow as tf

        tf.config.list_physical_devices()  # device probing is where "failed call to cuInit" comes from
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise needs_train_extra("tensorflow") from e

__all__ = ["keras", "tf"]
