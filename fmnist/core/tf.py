"""The one place the training side imports TensorFlow, so a missing extra is a clear error.

TensorFlow's C++ start-up prints oneDNN/CUDA notices to fd 2 before its logging is configured, which
no environment variable silences; they are hidden while it imports and probes its devices.

Its C++ logging also writes to fd 2 later, at any moment and from its own threads, where no wrapper around a call
can catch it: e.g. `E0000 … NodeDef mentions attribute use_unbounded_threadpool`, when tf.data's op-determinism
rewrite turns the parallel map of Keras' `predict` into a plain one. So its level is set before the import:
TF_CPP_MIN_LOG_LEVEL=3 (fatal only; TensorFlow's errors still reach Python as exceptions), and its Python logger
(retracing notices) to errors. A TF_CPP_MIN_LOG_LEVEL of your own (0 shows everything) is kept, and then so is the
Python logger's level.
"""

from __future__ import annotations

import logging
import os

from fmnist.core.errors import needs_train_extra
from fmnist.core.quiet import quiet_stderr

_OWN_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read by TensorFlow's C++ logging on its first message
try:
    with quiet_stderr():
        import keras
        import tensorflow as tf

        tf.config.list_physical_devices()  # device probing is where "failed call to cuInit" comes from
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise needs_train_extra("tensorflow") from e
if not _OWN_LEVEL:
    tf.get_logger().setLevel(logging.ERROR)

__all__ = ["keras", "tf"]
