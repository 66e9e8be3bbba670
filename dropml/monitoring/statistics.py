"""Two-sample tests and distances for drift, in numpy and ``math`` alone (no scipy: the lean Lambda package has none).

Each function takes the reference (the training profile's values or counts)
and the current batch, optionally weighted (a day of API traffic is a weighted
sample: each kept row stands for the rows its window saw). The tests match
scipy's, as tests/unit/test_monitoring_statistics.py checks:

Each takes arrays, or a :class:`Sample` sorted once for several of them.

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


@dataclass(frozen=True)
class Sample:
    """Values sorted once, with their cumulative weights: what the KS test and the Wasserstein distance read.

    A drift report sorts each column's values once and hands the same
    sample to both (sorting is most of their cost on a big batch).
    """

    values: np.ndarray  # ascending
    cumulative: np.ndarray  # cumulative weight up to each value
    effective: float  # Kish's effective size

    @classmethod
    def of(cls, values: np.ndarray, weights: np.ndarray | None = None) -> Sample:
        """Sort ``values`` (and their weights; equal weights count as none).

        Raises:
            ValueError: no values.
        """
        values = np.asarray(values, dtype=float)
        if len(values) == 0:
            raise ValueError("a sample needs at least one value")
        if weights is None or np.all(weights == weights[0]):
            weight = 1.0 if weights is None else float(weights[0])
            return cls(np.sort(values), np.arange(1, len(values) + 1) * weight, float(len(values)))
        order = np.argsort(values, kind="stable")
        return cls(values[order], np.cumsum(weights[order]), effective_size(weights, len(values)))

    def cdf(self, at: np.ndarray) -> np.ndarray:
        """The share of weight at or below each of ``at``."""
        positions = np.searchsorted(self.values, at, side="right")
        return np.concatenate(([0.0], self.cumulative))[positions] / self.cumulative[-1]

    def bin_weights(self, edges: np.ndarray) -> np.ndarray:
        """The weight in each bin between ascending ``edges``, as :func:`bin_counts` bins (a value on an edge
        goes to the bin above it)."""
        below = np.concatenate(([0.0], self.cumulative))[np.searchsorted(self.values, edges, side="left")]
        return np.diff(np.concatenate(([0.0], below, [self.cumulative[-1]])))


def _sample(values: np.ndarray | Sample, weights: np.ndarray | None) -> Sample:
    return values if isinstance(values, Sample) else Sample.of(values, weights)


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
    reference: np.ndarray | Sample,
    current: np.ndarray | Sample,
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
    first, second = _sample(reference, reference_weights), _sample(current, current_weights)
    union = np.concatenate([first.values, second.values])
    statistic = float(np.max(np.abs(first.cdf(union) - second.cdf(union))))
    n1, n2 = first.effective, second.effective
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
    reference: np.ndarray | Sample,
    current: np.ndarray | Sample,
    reference_weights: np.ndarray | None = None,
    current_weights: np.ndarray | None = None,
) -> float:
    """The first Wasserstein (earth mover's) distance of two weighted samples: ∫|F₁ − F₂|.

    Raises:
        ValueError: either sample is empty.
    """
    first, second = _sample(reference, reference_weights), _sample(current, current_weights)
    union = np.sort(np.concatenate([first.values, second.values]), kind="stable")  # two sorted runs: merged
    left = union[:-1]
    return float(np.sum(np.abs(first.cdf(left) - second.cdf(left)) * np.diff(union)))


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if total <= 0:
        raise ValueError("a distribution needs at least one count")
    return counts / total


def _paired_shares(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both count vectors as shares, checked to be over the same bins."""
    reference, current = _shares(reference_counts), _shares(current_counts)
    if reference.shape != current.shape:
        raise ValueError(f"count vectors differ in length ({len(reference)} vs {len(current)})")
    return reference, current


def jensen_shannon(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """The Jensen-Shannon distance (the square root of the divergence, base 2) of two count vectors: 0 to 1.

    Raises:
        ValueError: the vectors differ in length, or either has no count.
    """
    p, q = _paired_shares(reference_counts, current_counts)
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
    r, c = _paired_shares(reference_counts, current_counts)
    r, c = np.maximum(r, PSI_FLOOR), np.maximum(c, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def bin_counts(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) counts of ``values`` in the bins between ``edges`` (inner edges; the outer bins are open)."""
    positions = np.searchsorted(edges, values, side="right")
    return np.bincount(positions, weights=weights, minlength=len(edges) + 1).astype(float)
