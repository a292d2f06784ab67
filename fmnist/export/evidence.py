"""What a parity sample can show: exact binomial bounds on the images an exported file answers differently.

On the 10,000 Fashion-MNIST test images 0.5 pp is 50 images; on 341 held-out photos it is under two. The
gate therefore judges the counts, not the point estimates (docs/commands.md, "The parity gate"):

- agreement: the file fails when the one-sided lower confidence bound on its disagreement rate with Keras
  (Clopper-Pearson, exact) is above the tolerance: the sample shows it disagrees more than allowed;
- accuracy: the paired flips are `lost` (Keras right, the file wrong) and `gained` (the reverse). The file
  fails when it lost more than the tolerance on the sample *and* the exact one-sided McNemar test says chance
  would lose that many rarely (p < 1 - CONFIDENCE): a real loss, not a coin that fell twice.
"""

from __future__ import annotations

import math

import numpy as np

CONFIDENCE = 0.95  # one-sided, for both rules


def _log_pmf(n: int, p: float) -> np.ndarray:
    """log P(X = k) for k = 0..n, X ~ Binomial(n, p), with 0 < p < 1."""
    k = np.arange(n + 1)
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    log_comb = log_factorial[n] - log_factorial - log_factorial[::-1]
    return log_comb + k * math.log(p) + (n - k) * math.log1p(-p)


def upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    logs = _log_pmf(n, p)[k:]
    top = logs.max()
    return float(min(1.0, math.exp(top) * np.exp(logs - top).sum()))


def loss_p_value(lost: int, gained: int) -> float:
    """Exact one-sided McNemar: the chance that a file no worse than Keras loses at least `lost` of the
    `lost + gained` images on which exactly one of the two is right."""
    return upper_tail(lost, lost + gained, 0.5)


def rate_lower_bound(count: int, n: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided Clopper-Pearson lower bound on a rate seen as `count` of `n`: the smallest rate under which
    `count` or more would still be seen with probability 1 - confidence."""
    if count <= 0 or n <= 0:
        return 0.0
    alpha, low, high = 1.0 - confidence, 0.0, count / n
    for _ in range(60):  # bisection: P(X >= count) grows with the rate
        mid = (low + high) / 2
        low, high = (mid, high) if upper_tail(count, n, mid) < alpha else (low, mid)
    return low
