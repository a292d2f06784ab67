"""TensorFlow's native log lines stay out of the terminal: `fmnist.core.tf` sets its C++ log level before the
import. The line checked is the one `train-own --backbone lite0` printed mid-progress: `E0000 … NodeDef mentions
attribute use_unbounded_threadpool`, logged when tf.data's op-determinism rewrite meets the parallel map of Keras'
`predict` on an array."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

# found, not imported: collecting this file must not start TensorFlow in a worker that runs no TensorFlow test
pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs fmnist[train]")

PREDICT = """
import numpy as np
from fmnist.core.tf import keras, tf
tf.config.experimental.enable_op_determinism()
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])
model.predict(np.zeros((300, 8), np.float32), batch_size=128, verbose=0)
print("ok")
"""
NATIVE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d", re.MULTILINE)  # absl/TensorFlow C++ log line


def run(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    got = subprocess.run([sys.executable, "-c", PREDICT], capture_output=True, text=True, env={**clean, **env},
                         timeout=300)
    assert got.returncode == 0 and got.stdout.strip() == "ok", got.stderr
    return got


@pytest.mark.slow
def test_native_tensorflow_log_lines_stay_out_of_stderr():
    loud = run(TF_CPP_MIN_LOG_LEVEL="0")  # your own level is kept: the line is there to hide
    if not NATIVE.search(loud.stderr):
        pytest.skip("this TensorFlow logs nothing natively here: nothing to hide")
    quiet = run()
    assert not NATIVE.search(quiet.stderr), quiet.stderr
