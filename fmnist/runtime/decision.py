"""The "not sure" rule, one for `classify` and `live`: answer only when the preprocessing found an object
and the model's top probability reaches the threshold. The threshold is a property of the model
(chosen on validation photos and stored in its metadata); --threshold overrides it."""

from __future__ import annotations

from fmnist.core.meta import ModelMeta

NOT_SURE = "not sure"
DEFAULT_THRESHOLD = 0.5  # for a model whose metadata holds no chosen threshold
# How a threshold is chosen: the highest that still answers this share of mapped validation photos
# (fmnist.evaluation.photo_figures.choose_threshold). The goal is >= 85 %; with ~290 mapped photos the share has a
# standard error of ~2 points, so 87 % keeps new photos above 85 %.
COVERAGE = 0.87


def is_sure(score: float, empty: bool, threshold: float) -> bool:
    return not empty and score >= threshold


def model_threshold(meta: ModelMeta | None) -> float:
    """The threshold recorded in a model's metadata (a probability: its reader refuses any other), else
    DEFAULT_THRESHOLD."""
    return float(meta.decision.get("threshold", DEFAULT_THRESHOLD)) if meta else DEFAULT_THRESHOLD
