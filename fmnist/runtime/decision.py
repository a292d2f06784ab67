"""The "not sure" rule, one for `classify` and `live` (`decide`, `is_sure`) and for the evaluation on photos
(`are_sure`, the same rule over arrays): answer only when the preprocessing found an object and the model's top
probability reaches the threshold. A low-contrast object is answered, and flagged. The threshold is a property
of the model (chosen on validation photos and stored in its metadata); --threshold overrides it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fmnist.core.meta import ModelMeta

NOT_SURE = "not sure"
DEFAULT_THRESHOLD = 0.5  # for a model whose metadata holds no chosen threshold


def are_sure(scores: np.ndarray, empty: np.ndarray, threshold: float) -> np.ndarray:
    """The rule for many answers at once (evaluation, threshold choice): True where the preprocessing found an
    object and the top probability reaches the threshold."""
    return ~np.asarray(empty, bool) & (np.asarray(scores) >= threshold)


def is_sure(score: float, empty: bool, threshold: float) -> bool:
    """The same rule for one answer."""
    return bool(are_sure(np.asarray(score), np.asarray(empty), threshold))


@dataclass(frozen=True)
class Decision:
    label: str  # the best class, or NOT_SURE
    sure: bool
    top: list[tuple[int, float]]  # (label index, probability) of the k best, best first

    @property
    def score(self) -> float:
        """The best class's probability, answered or not."""
        return self.top[0][1]


def decide(probs: np.ndarray, empty: bool, threshold: float, labels: list[str], k: int = 3) -> Decision:
    """The answer for one image's probabilities (live: the smoothed ones) under the rule above."""
    order = np.argsort(probs, kind="stable")[::-1][: max(1, k)]
    top = [(int(i), float(probs[i])) for i in order]
    sure = is_sure(top[0][1], empty, threshold)
    return Decision(labels[top[0][0]] if sure else NOT_SURE, sure, top)


def model_threshold(meta: ModelMeta | None) -> float:
    """The threshold recorded in a model's metadata (a probability: its reader refuses any other), else
    DEFAULT_THRESHOLD."""
    return float(meta.decision.get("threshold", DEFAULT_THRESHOLD)) if meta else DEFAULT_THRESHOLD
