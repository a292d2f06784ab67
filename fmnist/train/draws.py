"""Drawing rows by group: a fixed number of indices in which every group (a photo folder) can weigh the same.
Photos join the edge recipe's epochs this way (fmnist.train.photo_targets) and the photo tier's views
(fmnist.train.photo_tier)."""

from __future__ import annotations

import numpy as np


def group_draws(groups: np.ndarray, total: int, balance: bool, seed: int) -> np.ndarray:
    """`total` row indices: whole copies, then a random part. With `balance`, every group (photo folder)
    gets the same number of draws, so a small folder (shoes, hats) weighs as much as a large one."""
    rng = np.random.default_rng(seed)
    if not balance:
        groups = np.zeros_like(groups)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    picked = []
    for rows in members:
        want = total // len(members)
        whole, part = divmod(want, len(rows))
        picked += [np.tile(rows, whole), rng.permutation(rows)[:part]]
    return np.concatenate(picked)
