"""The one place the training side imports TensorFlow, so a missing extra is a clear error.

TensorFlow's C++ start-up prints oneDNN/CUDA notices to fd 2 before its logging is configured, which
no environment variable silences; they are hidden while it imports and probes its devices.
"""

from __future__ import annotations

import os

from fmnist.core.errors import needs_train_extra
from fmnist.core.quiet import quiet_stderr

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    with quiet_stderr():
        import keras
        import tensorflow as tf

        tf.config.list_physical_devices()  # device probing is where "failed call to cuInit" comes from
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise needs_train_extra("tensorflow") from e

__all__ = ["keras", "tf"]
