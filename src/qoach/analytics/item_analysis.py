"""Classical test theory over aggregate sums (pure functions, no I/O).

The repository reduces a quiz version's attempts to a few sums computed in SQL;
everything here is exact integer / `Fraction` arithmetic on those sums, turned
into floats only at the end. Notation, for N attempts of a k-question version:

- `c` = an attempt's `correct_count` (its total), score = c / k;
- `x_i` = 1 when the attempt got question i right, else 0;
- `T = Σc`, `T2 = Σc²` over attempts; per question `S_i = Σx_i` and
  `P_i = Σ(x_i · c)`.

Variances are population variances (divide by N), as API.md defines them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

HISTOGRAM_BINS = 10


@dataclass(frozen=True, slots=True)
class HistogramBin:
    lower: float
    upper: float
    count: int


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    attempts: int
    mean: float | None
    median: float | None
    std_dev: float | None
    histogram: list[HistogramBin]
    total: int  # T = Σ correct_count
    total_squares: int  # T2 = Σ correct_count²


def histogram_bin(correct: int, question_count: int) -> int:
    """Bin of the score correct/question_count: [i/10, (i+1)/10), the last one closed.

    Integer arithmetic, so 3/10 lands in bin 3 and 10/10 in bin 9.
    """
    return min(correct * HISTOGRAM_BINS // question_count, HISTOGRAM_BINS - 1)


def summarize_scores(question_count: int, counts: Mapping[int, int]) -> ScoreSummary:
    """Mean, median, population std-dev and histogram of the attempt scores.

    `counts` maps a `correct_count` to how many attempts had it.
    """
    k = question_count
    counts = {c: n for c, n in counts.items() if n}
    attempts = sum(counts.values())
    total = sum(c * n for c, n in counts.items())
    total_squares = sum(c * c * n for c, n in counts.items())
    bins = [0] * HISTOGRAM_BINS
    for c, n in counts.items():
        bins[histogram_bin(c, k)] += n
    histogram = [
        HistogramBin(i / HISTOGRAM_BINS, (i + 1) / HISTOGRAM_BINS, bins[i])
        for i in range(HISTOGRAM_BINS)
    ]
    if attempts == 0 or k <= 0:
        return ScoreSummary(attempts, None, None, None, histogram, total, total_squares)
    mean = Fraction(total, attempts * k)
    # population variance of c/k = (N·T2 − T²) / (N²·k²), exactly
    variance = Fraction(attempts * total_squares - total * total, attempts * attempts * k * k)
    return ScoreSummary(
        attempts=attempts,
        mean=float(mean),
        median=float(_median(counts, attempts) / k),
        std_dev=math.sqrt(variance),
        histogram=histogram,
        total=total,
        total_squares=total_squares,
    )


def _median(counts: Mapping[int, int], attempts: int) -> Fraction:
    """Median correct_count of the distribution (mean of the middle two when even)."""
    wanted = [(attempts - 1) // 2, attempts // 2]  # 0-based ranks of the middle value(s)
    found: list[int] = []
    seen = 0
    for c in sorted(counts):
        seen += counts[c]
        while wanted and wanted[0] < seen:
            found.append(c)
            wanted.pop(0)
    return Fraction(found[0] + found[1], 2)


def facility(attempts: int, correct: int) -> float | None:
    """Share of attempts that got the question right."""
    return correct / attempts if attempts else None


def discrimination(
    attempts: int, correct: int, correct_times_total: int, total: int, total_squares: int
) -> float | None:
    """Pearson r between x (the question, 0/1) and y = c − x (the rest of the quiz).

    With N attempts, S = Σx, P = Σx·c, T = Σc, T2 = Σc²:
    Σx² = S, Σy = T − S, Σxy = P − S, Σy² = T2 − 2P + S. None when x or y is
    constant (no variance).
    """
    n, s, p = attempts, correct, correct_times_total
    if n == 0:
        return None
    sum_y = total - s
    sum_xy = p - s
    sum_y2 = total_squares - 2 * p + s
    cov = n * sum_xy - s * sum_y  # N²·cov
    var_x = n * s - s * s  # N²·var(x)
    var_y = n * sum_y2 - sum_y * sum_y  # N²·var(y)
    if var_x <= 0 or var_y <= 0:
        return None
    r = cov / math.sqrt(var_x * var_y)
    return max(-1.0, min(1.0, r))


def cronbach_alpha(
    question_count: int,
    attempts: int,
    correct_per_question: Sequence[int],
    total: int,
    total_squares: int,
) -> float | None:
    """k/(k−1) · (1 − Σ var(x_i) / var(c)) with population variances.

    var(x_i) = p(1 − p), so N²·var(x_i) = N·S_i − S_i², and N²·var(c) = N·T2 − T².
    None with fewer than 2 attempts, fewer than 2 questions or no total variance.
    """
    k, n = question_count, attempts
    if n < 2 or k < 2:
        return None
    var_total = n * total_squares - total * total
    if var_total <= 0:
        return None
    sum_var_items = sum(n * s - s * s for s in correct_per_question)
    return float(Fraction(k, k - 1) * (1 - Fraction(sum_var_items, var_total)))
