"""Many images through a model in calls of a bounded size: one huge call makes the runtime allocate every
layer's activations for the whole batch at once (2,000 photos at 160 px through the int8 photo model on one
thread: 10.7 s in one call, 5.1 s in calls of this size)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

CALL_VALUES = 784_000  # input values per call: 1,000 28x28 images, 10 colour squares of 160 px
STEP_ROWS = 64  # the fewest rows for a runtime that costs time per call (Keras' steps: 2,000 colour squares of
# 160 px took 11.7 s in steps of 64, 20 s in steps of 10, 25 s in steps of 1,000; its outputs are the same)


def rows_per_call(input_shape: tuple[int, ...]) -> int:
    """How many inputs of `input_shape` (one image's) one call takes."""
    return max(1, CALL_VALUES // max(1, math.prod(input_shape)))


def step_rows(input_shape: tuple[int, ...]) -> int:
    """Rows a call of a runtime that costs time per call (Keras) takes: rows_per_call, and STEP_ROWS at least."""
    return max(STEP_ROWS, rows_per_call(input_shape))


def in_calls(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, rows: int | None = None) -> np.ndarray:
    """run(x), made in calls of `rows` rows each (default rows_per_call)."""
    rows = rows or rows_per_call(x.shape[1:])
    if len(x) <= rows:
        return run(x)
    return np.concatenate([run(x[i : i + rows]) for i in range(0, len(x), rows)])
