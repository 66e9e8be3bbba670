"""Two-sample tests and distances for drift, in numpy and ``math`` alone (no scipy: the lean Lambda package has none).

Each function takes the reference (the training profile's values or counts)
and the current batch, optionally weighted (a day of API traffic is a weighted
sample: each kept row stands for the rows its window saw). The tests match
scipy's, as tests/unit/test_monitoring_statistics.py checks:

- :func:`ks_two_sample`: the two-sample Kolmogorov-Smirnov statistic, its p-value from the Kolmogorov
  distribution with Stephens' small-sample correction (``scipy.stats.kstwobign.sf`` of the corrected
  statistic; within 0.02 of ``ks_2samp(method="asymp")``);
- :func:`chi_square_two_sample`: Pearson's chi-square test of homogeneity of two count vectors
  (``scipy.stats.chi2_contingency(correction=False)``), its p-value by the regularized upper incomplete gamma;
- :func:`wasserstein`: the first Wasserstein distance of two weighted samples (``scipy.stats.wasserstein_distance``);
- :func:`jensen_shannon`: the Jensen-Shannon distance of two distributions, base 2, in [0, 1]
  (``scipy.spatial.distance.jensenshannon(base=2)``);
- :func:`population_stability_index`: PSI of two binned distributions (no scipy counterpart; the usual formula).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PSI_FLOOR = 1e-4  # a bin empty on one side counts as this share (the usual convention; else PSI is infinite)
_GAMMA_EPS = 1e-15
_GAMMA_ITERATIONS = 10_000


@dataclass(frozen=True)
class TestResult:
    """A test's statistic and p-value."""

    __test__ = False  # not a pytest class

    statistic: float
    p_value: float


def effective_size(weights: np.ndarray | None, count: int) -> float:
    """Kish's effective sample size of weighted values, ``(Σw)² / Σw²`` (``count`` when unweighted)."""
    if weights is None:
        return float(count)
    total = float(weights.sum())
    squares = float(np.square(weights).sum())
    return total * total / squares if squares > 0 else 0.0


def _weighted_cdf(sorted_values: np.ndarray, cumulative: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The share of weight at or below each of ``at``, for values sorted with their cumulative weights."""
    positions = np.searchsorted(sorted_values, at, side="right")
    return np.concatenate(([0.0], cumulative))[positions] / cumulative[-1]


def _sorted_with_weights(values: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    cumulative = np.cumsum(weights[order] if weights is not None else np.ones(len(values)))
    return ordered, cumulative


def kolmogorov_sf(z: float) -> float:
    """P(K > z) for the Kolmogorov distribution: ``2 Σ (-1)^(k-1) exp(-2 k² z²)`` (``scipy.stats.kstwobign.sf``)."""
    if z <= 0:
        return 1.0
    if z < 1.0:  # the alternating series cancels badly here: 1 − the CDF's theta series, which converges fast
        factor = -(math.pi**2) / (8.0 * z * z)
        cdf = math.sqrt(2.0 * math.pi) / z * sum(math.exp(factor * (2 * k - 1) ** 2) for k in range(1, 20))
        return min(max(1.0 - cdf, 0.0), 1.0)
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1.0) ** (k - 1) * math.exp(-2.0 * k * k * z * z)
        total += term
        if abs(term) < 1e-17:
            break
    return min(max(total, 0.0), 1.0)


def ks_two_sample(
    reference: np.ndarray,
    current: np.ndarray,
    reference_weights: np.ndarray | None = None,
    current_weights: np.ndarray | None = None,
) -> TestResult:
    """The two-sample Kolmogorov-Smirnov test (two-sided) of weighted samples, asymptotic p-value.

    The statistic is the largest gap between the two (weighted) empirical CDFs;
    the p-value is the Kolmogorov distribution's at ``(√n + 0.12 + 0.11/√n)·D``
    with ``n = n₁n₂/(n₁+n₂)`` of the effective sizes (Stephens' correction: close
    to scipy's exact-distribution ``asymp`` mode from a few dozen values on).

    Raises:
        ValueError: either sample is empty.
    """
    if len(reference) == 0 or len(current) == 0:
        raise ValueError("both samples need at least one value")
    ref_sorted, ref_cumulative = _sorted_with_weights(np.asarray(reference, dtype=float), reference_weights)
    cur_sorted, cur_cumulative = _sorted_with_weights(np.asarray(current, dtype=float), current_weights)
    union = np.concatenate([ref_sorted, cur_sorted])
    gaps = _weighted_cdf(ref_sorted, ref_cumulative, union) - _weighted_cdf(cur_sorted, cur_cumulative, union)
    statistic = float(np.max(np.abs(gaps)))
    n1 = effective_size(reference_weights, len(reference))
    n2 = effective_size(current_weights, len(current))
    root = math.sqrt(n1 * n2 / (n1 + n2))
    return TestResult(statistic, kolmogorov_sf((root + 0.12 + 0.11 / root) * statistic))


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    shape = a
    for _ in range(_GAMMA_ITERATIONS):
        shape += 1.0
        term *= x / shape
        total += term
        if abs(term) < abs(total) * _GAMMA_EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, _GAMMA_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < _GAMMA_EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma (``scipy.special.gammaincc``).

    A series below ``x < a + 1``, Lentz's continued fraction above (Numerical Recipes §6.2).

    Raises:
        ValueError: ``a`` is not positive or ``x`` is negative.
    """
    if a <= 0 or x < 0:
        raise ValueError(f"Q(a, x) needs a > 0 and x >= 0 (got a={a}, x={x})")
    if x == 0:
        return 1.0
    if x < a + 1.0:
        return min(max(1.0 - _gamma_p_series(a, x), 0.0), 1.0)
    return min(max(_gamma_q_fraction(a, x), 0.0), 1.0)


def chi_square_sf(statistic: float, degrees_of_freedom: int) -> float:
    """P(χ²_k > statistic) (``scipy.stats.chi2.sf``)."""
    return regularized_gamma_q(degrees_of_freedom / 2.0, max(statistic, 0.0) / 2.0)


def chi_square_two_sample(reference_counts: np.ndarray, current_counts: np.ndarray) -> TestResult:
    """Pearson's chi-square test that two count vectors (same categories, same order) share one distribution.

    The 2 × k contingency table's test without Yates' correction; categories
    absent from both samples are left out. Counts may be fractional (weighted).

    Raises:
        ValueError: the vectors differ in length, or either has no count.
    """
    reference = np.asarray(reference_counts, dtype=float)
    current = np.asarray(current_counts, dtype=float)
    if reference.shape != current.shape:
        raise ValueError(f"count vectors differ in length ({len(reference)} vs {len(current)})")
    present = (reference + current) > 0
    reference, current = reference[present], current[present]
    n_ref, n_cur = float(reference.sum()), float(current.sum())
    if n_ref <= 0 or n_cur <= 0:
        raise ValueError("both samples need at least one count")
    if len(reference) < 2:
        return TestResult(0.0, 1.0)  # one category on both sides: nothing can differ
    share = (reference + current) / (n_ref + n_cur)
    expected_ref, expected_cur = share * n_ref, share * n_cur
    statistic = float(
        np.sum(np.square(reference - expected_ref) / expected_ref)
        + np.sum(np.square(current - expected_cur) / expected_cur)
    )
    return TestResult(statistic, chi_square_sf(statistic, len(reference) - 1))


def wasserstein(
    reference: np.ndarray,
    current: np.ndarray,
    reference_weights: np.ndarray | None = None,
    current_weights: np.ndarray | None = None,
) -> float:
    """The first Wasserstein (earth mover's) distance of two weighted samples: ∫|F₁ − F₂|.

    Raises:
        ValueError: either sample is empty.
    """
    if len(reference) == 0 or len(current) == 0:
        raise ValueError("both samples need at least one value")
    ref_sorted, ref_cumulative = _sorted_with_weights(np.asarray(reference, dtype=float), reference_weights)
    cur_sorted, cur_cumulative = _sorted_with_weights(np.asarray(current, dtype=float), current_weights)
    union = np.sort(np.concatenate([ref_sorted, cur_sorted]), kind="mergesort")
    widths = np.diff(union)
    left = union[:-1]
    gaps = _weighted_cdf(ref_sorted, ref_cumulative, left) - _weighted_cdf(cur_sorted, cur_cumulative, left)
    return float(np.sum(np.abs(gaps) * widths))


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if total <= 0:
        raise ValueError("a distribution needs at least one count")
    return counts / total


def jensen_shannon(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """The Jensen-Shannon distance (the square root of the divergence, base 2) of two count vectors: 0 to 1.

    Raises:
        ValueError: the vectors differ in length, or either has no count.
    """
    p, q = _shares(reference_counts), _shares(current_counts)
    if p.shape != q.shape:
        raise ValueError(f"count vectors differ in length ({len(p)} vs {len(q)})")
    m = (p + q) / 2.0

    def divergence(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return math.sqrt(max((divergence(p) + divergence(q)) / 2.0, 0.0))


def population_stability_index(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """PSI = Σ (c − r)·ln(c / r) over bins of the two shares (an empty bin counts as :data:`PSI_FLOOR`).

    Raises:
        ValueError: the vectors differ in length, or either has no count.
    """
    r, c = _shares(reference_counts), _shares(current_counts)
    if r.shape != c.shape:
        raise ValueError(f"count vectors differ in length ({len(r)} vs {len(c)})")
    r, c = np.maximum(r, PSI_FLOOR), np.maximum(c, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def bin_counts(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) counts of ``values`` in the bins between ``edges`` (inner edges; the outer bins are open)."""
    positions = np.searchsorted(edges, values, side="right")
    return np.bincount(positions, weights=weights, minlength=len(edges) + 1).astype(float)
