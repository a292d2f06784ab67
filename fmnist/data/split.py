"""Stratified sampling (numpy only): every class keeps its share in a subset or a split."""

from __future__ import annotations

import numpy as np

from fmnist.core.errors import UsageError


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` indices drawn without replacement, each class in proportion; sorted for stable order."""
    if not 0 < n <= len(labels):
        raise UsageError(f"cannot draw {n} of {len(labels)} images; pass --limit between 1 and {len(labels)}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    # largest-remainder allocation so the shares sum to exactly n
    exact = counts * n / len(labels)
    take = np.floor(exact).astype(int)
    take[np.argsort(exact - take)[::-1][: n - take.sum()]] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(picked))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) with `fraction` of each class held out."""
    if not 0 < fraction < 1:
        raise UsageError(f"--val-split must be between 0 and 1, got {fraction}")
    held = stratified_indices(labels, max(1, round(len(labels) * fraction)), seed)
    keep = np.setdiff1d(np.arange(len(labels)), held, assume_unique=True)
    return keep, held
