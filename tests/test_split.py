from __future__ import annotations

import numpy as np
import pytest

from fmnist.core.errors import UsageError
from fmnist.data.split import stratified_indices, stratified_split

LABELS = np.repeat(np.arange(10), [600, 600, 600, 600, 600, 600, 600, 600, 600, 300])


def test_subset_keeps_class_shares_and_exact_size():
    picked = stratified_indices(LABELS, 570, seed=1)
    assert len(picked) == len(np.unique(picked)) == 570
    counts = np.bincount(LABELS[picked], minlength=10)
    assert counts.tolist() == [60] * 9 + [30]


def test_split_is_disjoint_complete_and_repeatable():
    keep, held = stratified_split(LABELS, 0.1, seed=3)
    assert len(np.intersect1d(keep, held)) == 0
    assert len(keep) + len(held) == len(LABELS)
    assert np.bincount(LABELS[held], minlength=10).tolist() == [60] * 9 + [30]
    again, _ = stratified_split(LABELS, 0.1, seed=3)
    other, _ = stratified_split(LABELS, 0.1, seed=4)
    assert np.array_equal(keep, again) and not np.array_equal(keep, other)


@pytest.mark.parametrize("n", [0, len(LABELS) + 1])
def test_impossible_subset_is_a_usage_error(n):
    with pytest.raises(UsageError, match="--limit"):
        stratified_indices(LABELS, n, seed=0)
