"""One "not sure" rule: classify/live's single answer and the evaluation's arrays give the same decision."""

from pathlib import Path

import numpy as np

from fmnist.evaluation.photo_figures import choose_threshold, photo_figures
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import PhotoSet
from fmnist.runtime.decision import NOT_SURE, are_sure, decide, is_sure

LABELS = ["a", "b"]


def test_the_array_rule_and_the_single_answer_agree_at_the_threshold_and_on_empty_images():
    scores = np.array([0.55, 0.6, 0.6, 0.7, 0.9])  # each the top probability of [score, 1 - score]
    empty = np.array([False, False, True, False, True])
    sure = are_sure(scores, empty, 0.6)
    assert sure.tolist() == [False, True, False, True, False]
    for score, nothing, expected in zip(scores, empty, sure, strict=True):
        assert is_sure(float(score), bool(nothing), 0.6) is bool(expected)
        decision = decide(np.array([score, 1 - score]), bool(nothing), 0.6, LABELS)
        assert decision.sure is bool(expected) and (decision.label == NOT_SURE) is not expected


def _photos(scores: list[float], empty: list[bool], folders: list[int]) -> tuple[np.ndarray, PhotoSet]:
    probs = np.array([[s, 1 - s] for s in scores])
    photos = PhotoSet(Path("photos"), ("a", "hat"), np.zeros((len(scores), 28, 28), np.uint8),
                      np.array(folders), np.array(empty), [Path(f"{i}.png") for i in range(len(scores))])
    return probs, photos


def test_evaluation_answers_and_chooses_thresholds_by_the_same_rule():
    pmap = PhotoMap({"a": (0,), "hat": ()}, "test", tuple(LABELS))
    # four mapped photos (one the preprocessing found empty, with the highest score), one unmapped
    probs, photos = _photos([0.95, 0.8, 0.6, 0.55, 0.9], [True, False, False, False, False], [0, 0, 0, 0, 1])
    # an empty photo is never answered: answering 3 of 4 mapped photos needs a threshold of at most 0.55
    assert choose_threshold(probs, photos, pmap, coverage=0.75) == 0.55
    assert choose_threshold(probs, photos, pmap, coverage=0.5) == 0.6
    figures = photo_figures(probs, photos, pmap, 0.6)
    sure = are_sure(probs.max(axis=1), photos.empty, 0.6)
    assert figures.coverage == sure[:4].mean() == 0.5 and figures.unsure_unmapped == 0.0
    assert figures.confusion["counts"] == [[2, 0, 2], [1, 0, 0]]
