"""The "not sure" rule, one for `classify` and `live`: answer only when the preprocessing found an object
and the model's top probability reaches the threshold. The threshold is a property of the model
(chosen on validation photos and stored in its metadata); --threshold overrides it."""

from __future__ import annotations

from fmnist.meta import ModelMeta

NOT_SURE = "not sure"
DEFAULT_THRESHOLD = 0.5  # for a model whose metadata holds no chosen threshold


def is_sure(score: float, empty: bool, threshold: float) -> bool:
    return not empty and score >= threshold


def model_threshold(meta: ModelMeta | None) -> float:
    """The threshold recorded in a model's metadata, else DEFAULT_THRESHOLD."""
    value = (meta.decision or {}).get("threshold") if meta else None
    return float(value) if isinstance(value, int | float) else DEFAULT_THRESHOLD
