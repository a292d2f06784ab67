"""The parity gate judges what its sample can show (fmnist.export.evidence): two flipped photos of 341 are noise,
the same share of 10,000 test images is a real loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmnist.export.evidence import CONFIDENCE, loss_p_value, rate_lower_bound, upper_tail
from fmnist.export.parity import compare, thresholds_for


def exact_tail(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@given(st.integers(0, 60), st.integers(1, 60), st.floats(0.001, 0.999))
def test_the_binomial_tail_is_exact(k, n, p):
    assert upper_tail(k, n, p) == pytest.approx(min(1.0, exact_tail(min(k, n + 1), n, p)) if k <= n else 0.0,
                                                rel=1e-9, abs=1e-12)


@given(st.integers(1, 10_000), st.data())
def test_the_lower_bound_is_the_rate_at_which_the_count_is_just_unlikely(n, data):
    count = data.draw(st.integers(1, n))
    bound = rate_lower_bound(count, n)
    assert 0 <= bound <= count / n
    # at the bound, seeing `count` or more has the chance 1 - confidence (to the bisection's precision)
    assert upper_tail(count, n, bound) == pytest.approx(1 - CONFIDENCE, abs=1e-6)


def test_mcnemar_on_the_flips():
    assert loss_p_value(3, 1) == pytest.approx(5 / 16)  # P(X >= 3), X ~ Binomial(4, 1/2)
    assert loss_p_value(0, 0) == 1.0
    assert loss_p_value(100, 50) < 1e-4


def answers(n: int, lost: int, gained: int, other: int = 0, classes: int = 10, seed: int = 0):
    """Keras probabilities and a file's probabilities on n images whose flips are exactly as given: `lost`
    images Keras gets right and the file wrong, `gained` the reverse, `other` both wrong but different."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    keras = labels.copy()
    keras[: n // 10] = (labels[: n // 10] + 1) % classes  # Keras is wrong on a tenth
    mine = keras.copy()
    right = np.flatnonzero(keras == labels)
    wrong = np.flatnonzero(keras != labels)
    mine[right[:lost]] = (labels[right[:lost]] + 3) % classes
    mine[wrong[:gained]] = labels[wrong[:gained]]
    mine[wrong[gained : gained + other]] = (labels[wrong[gained : gained + other]] + 5) % classes
    return np.eye(classes)[keras], np.eye(classes)[mine], labels


def gate(n: int, lost: int, gained: int, other: int = 0):
    reference, probs, labels = answers(n, lost, gained, other)
    return compare("model.int8.onnx", "int8", reference, probs, labels, thresholds_for("int8"))


def test_two_flipped_photos_of_341_pass():
    """The own-classes export that failed by default: -0.59 pp on 341 photos is 2 photos, within chance."""
    row = gate(341, lost=3, gained=1, other=2)
    assert row.accuracy_delta_pp == pytest.approx(-0.59, abs=0.01) and row.agreement == pytest.approx(0.9824, abs=1e-4)
    assert row.passed, row.failures
    assert row.flips == {"n": 341, "lost": 3, "gained": 1, "differ": 6, "loss_p": 0.312,
                         "disagreement_lower_bound": pytest.approx(0.00769, abs=1e-5), "confidence": 0.95}


def test_the_same_loss_on_10_000_test_images_fails_on_both_counts():
    row = gate(10_000, lost=110, gained=50, other=20)  # -0.60 pp, 98.2 % agreement
    assert not row.passed
    lost = "accuracy drop 0.60 pp > 0.50 pp (110 right answers lost, 50 gained, of 10000"
    assert any(lost in f for f in row.failures)
    assert any("top-1 agreement 98.20% (180 of 10000 differ)" in f for f in row.failures)


def test_a_small_but_certain_loss_on_a_small_sample_fails():
    row = gate(341, lost=12, gained=1)  # 3.2 pp: chance loses 12 of 13 with p = 0.0017
    assert not row.passed and any("accuracy drop 3.23 pp" in f for f in row.failures)


def test_a_file_that_never_disagrees_passes_a_gate_of_100_percent_and_one_that_does_not_fails():
    exact = thresholds_for("int8", min_agree=1.0)
    reference, probs, labels = answers(341, 0, 0)
    assert compare("f", "int8", reference, probs, labels, exact).passed
    reference, probs, labels = answers(341, 1, 0)
    assert not compare("f", "int8", reference, probs, labels, exact).passed


def test_a_drop_exactly_at_the_limit_passes_and_nan_outputs_fail():
    """'At most 0.5 pp' holds at the limit (counts, not a rounded ratio); a NaN output is never within |Δp|."""
    reference, probs, labels = answers(1000, lost=7, gained=0)
    assert compare("f", "int8", reference, probs, labels, thresholds_for("int8", max_drop=0.7)).passed
    assert not compare("f", "int8", reference, probs, labels, thresholds_for("int8", max_drop=0.69)).passed
    reference, probs, labels = answers(1000, 0, 0)
    probs[:10] = np.nan
    row = compare("model.onnx", "fp32", reference, probs, labels, thresholds_for("fp32"))
    assert not row.passed and any("max |Δp| nan" in f for f in row.failures)
