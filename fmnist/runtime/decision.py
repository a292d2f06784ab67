"""The "not sure" rule, one for `classify` and `live` (`decide`): answer only when the preprocessing found an
object and the model's top probability reaches the threshold. A low-contrast object is answered, and flagged.
The threshold is a property of the model (chosen on validation photos and stored in its metadata);
--threshold overrides it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fmnist.core.meta import ModelMeta

NOT_SURE = "not sure"
DEFAULT_THRESHOLD = 0.5  # for a model whose metadata holds no chosen threshold
# How a threshold is chosen: the highest that still answers this share of mapped validation photos
# (fmnist.evaluation.photo_figures.choose_threshold). The goal is >= 85 %; with ~290 mapped photos the share has a
# standard error of ~2 points, so 87 % keeps new photos above 85 %.
COVERAGE = 0.87
# The photo model (fmnist train --model photo) is to answer >= 90 % of photos. Its "not sure" on garments it has no
# class for comes from a near-uniform output, not from the threshold: on the validation photos it stays at 92-94 %
# for any threshold from 0.30 to 0.40. So it can answer 95 % of them, which keeps new photos well above 90 %.
PHOTO_COVERAGE = 0.95


def is_sure(score: float, empty: bool, threshold: float) -> bool:
    return not empty and score >= threshold


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
