"""Compiled forward passes that compute what eager calls compute, bit for bit (on CPU).

Calling a Keras model eagerly runs its ops one at a time from Python: the photo tier's passes below its boundary
(Lite0 to block 7 at 160 px) took about twice as long that way as through one compiled function (320 validation
photos: 2.5-3.0 s against 1.1-1.3 s, 2-core Xeon). TensorFlow rewrites a compiled function with Grappler first,
and Grappler's arithmetic optimizer reorders float arithmetic: the activations then differed from eager's by up to
2.5e-5, enough for a training run to drift from the one that made a shipped model. With that one rewrite off they
are equal to the bit (turning off remapping, layout or constant folding alone left the difference) and as fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from fmnist.core.tf import tf

_REWRITE = "arithmetic_optimization"


@contextmanager
def exact_graphs() -> Iterator[None]:
    """Inside, functions are compiled and run without Grappler's arithmetic optimizer. TensorFlow's setting is the
    whole process's, read by each thread when it next calls a function: it is put back as it was on the way out, so
    that a fit after (on this thread) is compiled as it always was."""
    before = tf.config.optimizer.get_experimental_options().get(_REWRITE, True)
    tf.config.optimizer.set_experimental_options({_REWRITE: False})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({_REWRITE: before})


def exact_forward(model: Any) -> Callable[[Any], np.ndarray]:
    """`model(x, training=False)` compiled, equal to the eager call bit for bit: each call runs inside exact_graphs
    (a new batch shape compiles again there)."""
    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def call(x: Any) -> np.ndarray:
        with exact_graphs():
            return np.asarray(forward(x))

    return call
