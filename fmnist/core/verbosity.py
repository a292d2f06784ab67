"""`fmnist --verbose`: whether the native libraries' own log lines (onnxruntime's) reach the user. An environment
variable, so that worker processes (bench's) inherit it."""

from __future__ import annotations

import os

VERBOSE_ENV = "FMNIST_VERBOSE"


def set_verbose() -> None:
    os.environ[VERBOSE_ENV] = "1"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")
