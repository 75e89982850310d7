"""The pure item-analysis maths against a naive reference over raw 0/1 matrices."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qoach.analytics import item_analysis as ia

Matrix = list[list[int]]  # rows = attempts, columns = questions, cells 0/1


def from_matrix(matrix: Matrix, k: int):
    """What the SQL computes: the score distribution and per-question sums."""
    totals = [sum(row) for row in matrix]
    summary = ia.summarize_scores(k, Counter(totals))
    per_question = [
        (sum(row[i] for row in matrix), sum(row[i] * sum(row) for row in matrix)) for i in range(k)
    ]
    return summary, per_question


def naive_pearson(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    vx = sum((x - mx) ** 2 for x in xs)
    vy = sum((y - my) ** 2 for y in ys)
    if vx == 0 or vy == 0:
        return None
    return cov / math.sqrt(vx * vy)


def naive_alpha(matrix: Matrix, k: int) -> float | None:
    totals = [sum(row) for row in matrix]
    if len(matrix) < 2 or statistics.pvariance(totals) == 0:
        return None
    item_var = sum(statistics.pvariance([row[i] for row in matrix]) for i in range(k))
    return k / (k - 1) * (1 - item_var / statistics.pvariance(totals))


matrices = st.integers(min_value=2, max_value=8).flatmap(
    lambda k: st.tuples(
        st.just(k),
        st.lists(st.lists(st.integers(0, 1), min_size=k, max_size=k), min_size=0, max_size=40),
    )
)


@settings(max_examples=300, deadline=None)
@given(matrices)
def test_against_naive_reference(case: tuple[int, Matrix]) -> None:
    k, matrix = case
    summary, per_question = from_matrix(matrix, k)
    n = len(matrix)
    scores = [sum(row) / k for row in matrix]
    assert summary.attempts == n
    if n == 0:
        assert (summary.mean, summary.median, summary.std_dev) == (None, None, None)
    else:
        assert summary.mean == pytest.approx(statistics.fmean(scores), abs=1e-12)
        assert summary.median == pytest.approx(statistics.median(scores), abs=1e-12)
        assert summary.std_dev == pytest.approx(statistics.pstdev(scores), abs=1e-12)
    expected_bins = Counter(min(int(s * 10 + 1e-9), 9) for s in scores)
    assert [b.count for b in summary.histogram] == [expected_bins.get(i, 0) for i in range(10)]

    for i, (correct, product) in enumerate(per_question):
        xs = [row[i] for row in matrix]
        rest = [sum(row) - row[i] for row in matrix]
        facility = ia.facility(n, correct)
        assert facility == (statistics.fmean(xs) if n else None)
        r = ia.discrimination(n, correct, product, summary.total, summary.total_squares)
        expected = naive_pearson(xs, rest) if n else None
        if expected is None:
            assert r is None
        else:
            assert r == pytest.approx(expected, abs=1e-9)
            assert -1.0 <= r <= 1.0

    alpha = ia.cronbach_alpha(
        k, n, [c for c, _ in per_question], summary.total, summary.total_squares
    )
    expected_alpha = naive_alpha(matrix, k)
    if expected_alpha is None:
        assert alpha is None
    else:
        assert alpha == pytest.approx(expected_alpha, rel=1e-9, abs=1e-9)


def test_histogram_bins_use_exact_integer_arithmetic() -> None:
    # 3/10 is 0.30000000000000004 / 0.3 depending on how it is computed: bin 3 either way
    assert ia.histogram_bin(3, 10) == 3
    assert ia.histogram_bin(7, 10) == 7
    assert ia.histogram_bin(1, 3) == 3  # 0.333…
    assert ia.histogram_bin(2, 3) == 6  # 0.666…
    assert ia.histogram_bin(0, 4) == 0
    assert ia.histogram_bin(4, 4) == 9  # 1.0 goes in the last, closed bin
    assert ia.histogram_bin(99, 100) == 9
    bins = ia.summarize_scores(10, {10: 2, 9: 1, 0: 1}).histogram
    assert [(b.lower, b.upper) for b in bins][:2] == [(0.0, 0.1), (0.1, 0.2)]
    assert (bins[9].lower, bins[9].upper, bins[9].count) == (0.9, 1.0, 3)
    assert bins[0].count == 1


def test_hand_computed_example() -> None:
    # totals 4, 2, 2, 1 on a 4-question quiz (the API test's matrix)
    summary = ia.summarize_scores(4, {4: 1, 2: 2, 1: 1})
    assert (summary.attempts, summary.total, summary.total_squares) == (4, 9, 25)
    assert summary.mean == 9 / 16
    assert summary.median == 0.5
    assert summary.std_dev == pytest.approx(math.sqrt(19) / 16, rel=1e-15)
    # question 1: x = 1 1 1 0 → S = 3, P = 4 + 2 + 2 = 8 → r = 1/3
    assert ia.discrimination(4, 3, 8, 9, 25) == pytest.approx(1 / 3, rel=1e-15)
    assert ia.cronbach_alpha(4, 4, [3, 2, 2, 2], 9, 25) == pytest.approx(16 / 57, rel=1e-15)


def test_degenerate_cases() -> None:
    assert ia.facility(0, 0) is None
    assert ia.discrimination(0, 0, 0, 0, 0) is None
    # everybody right on the question: no variance in x
    assert ia.discrimination(3, 3, 6, 6, 14) is None
    # the rest of the quiz constant (a 2-question quiz with the other question always right)
    # x = 1 0, totals 2 1 → rest = 1 1
    assert ia.discrimination(2, 1, 2, 3, 5) is None
    # a question that exactly mirrors the rest: x = 1 0, rest = 1 0 → r = 1
    assert ia.discrimination(2, 1, 2, 2, 4) == 1.0
    assert ia.cronbach_alpha(4, 1, [1, 1, 1, 1], 4, 16) is None  # one attempt
    assert ia.cronbach_alpha(2, 3, [3, 3], 6, 12) is None  # every total equal
    assert ia.cronbach_alpha(1, 3, [1], 1, 1) is None  # k = 1: k/(k−1) undefined
    empty = ia.summarize_scores(5, {})
    assert (empty.mean, empty.median, empty.std_dev) == (None, None, None)
    assert [b.count for b in empty.histogram] == [0] * 10
