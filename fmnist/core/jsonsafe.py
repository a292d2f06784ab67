"""JSON that every parser reads: fmnist's JSON outputs (`--json`, the preview's /status) never carry NaN or
infinity, which json.dumps writes by default but JSON does not have. A non-finite number is written as null."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_number(value: object) -> bool:
    """A real, finite number (int or float; not a bool, NaN or infinity)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float (a 400-digit JSON number): no figure fmnist reads
        return False


def finite_share(value: object) -> bool:
    """A finite number in [0, 1]: a probability, or a share of images (not a bool, NaN or infinity)."""
    return finite_number(value) and 0 <= value <= 1  # type: ignore[operator]


def sanitized(value: Any) -> Any:
    """`value` with every non-finite float, at any depth, replaced by None (tuples become lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: sanitized(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [sanitized(item) for item in value]
    return value


def dumps(value: Any, sort_keys: bool = False) -> str:
    """The one way fmnist writes JSON output: non-finite numbers as null, so the text is strict JSON."""
    return json.dumps(sanitized(value), allow_nan=False, sort_keys=sort_keys)
