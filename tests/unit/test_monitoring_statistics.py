"""dropml's drift tests and distances (numpy and math only) give scipy's answers, weighted ones included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

from dropml.monitoring import statistics

SEEDS = range(12)


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(20, 3000)), int(rng.integers(20, 3000))
    shift, scale = rng.choice([0.0, 0.05, 0.2, 0.5]), rng.choice([1.0, 1.3])
    reference = rng.normal(size=n)
    current = rng.normal(shift, scale, size=m)
    if seed % 3 == 0:  # ties: integer data
        reference, current = np.round(reference * 3), np.round(current * 3)
    return reference, current


@pytest.mark.parametrize("z", [0.05, 0.2, 0.5, 0.8, 0.99, 1.0, 1.2, 1.36, 2.0, 3.5])
def test_the_kolmogorov_tail_is_scipys_kstwobign(z):
    assert statistics.kolmogorov_sf(z) == pytest.approx(stats.kstwobign.sf(z), abs=1e-13)


@pytest.mark.parametrize("seed", SEEDS)
def test_ks_statistic_is_scipys_and_its_p_value_is_the_corrected_kolmogorov_tail(seed):
    reference, current = _samples(seed)
    ours = statistics.ks_two_sample(reference, current)
    theirs = stats.ks_2samp(reference, current, method="asymp")
    assert ours.statistic == pytest.approx(theirs.statistic, abs=1e-12)
    n, m = len(reference), len(current)
    root = math.sqrt(n * m / (n + m))
    assert ours.p_value == pytest.approx(stats.kstwobign.sf((root + 0.12 + 0.11 / root) * ours.statistic), abs=1e-12)
    # Stephens' corrected tail follows scipy's exact-distribution asymptotic mode closely
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=0.02)
    assert (ours.p_value < 0.05) == (theirs.pvalue < 0.05) or abs(theirs.pvalue - 0.05) < 0.01


def test_a_weighted_ks_equals_the_sample_with_rows_repeated():
    rng = np.random.default_rng(7)
    reference, current = rng.normal(size=400), rng.normal(0.3, size=60)
    repeats = rng.integers(1, 4, size=60)
    weighted = statistics.ks_two_sample(reference, current, current_weights=repeats.astype(float))
    repeated = stats.ks_2samp(reference, np.repeat(current, repeats))
    assert weighted.statistic == pytest.approx(repeated.statistic, abs=1e-12)
    # the p-value counts the effective rows the weights stand for (fewer than the repeats)
    assert statistics.effective_size(repeats.astype(float), 60) < repeats.sum()


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5, 10.0, 57.5, 400.0])
@pytest.mark.parametrize("x", [0.0, 0.01, 1.0, 3.3, 12.0, 60.0, 450.0, 2000.0])
def test_the_regularized_upper_gamma_is_scipys(a, x):
    assert statistics.regularized_gamma_q(a, x) == pytest.approx(special.gammaincc(a, x), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_chi_square_of_two_count_vectors_is_scipys_contingency_test(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 30))
    reference = rng.integers(0, 500, size=k).astype(float)
    current = rng.integers(0, 80, size=k).astype(float)
    current[0] += 1  # never empty
    reference[-1] += 1
    ours = statistics.chi_square_two_sample(reference, current)
    present = (reference + current) > 0
    statistic, p_value, *_ = stats.chi2_contingency(np.vstack([reference, current])[:, present], correction=False)
    assert ours.statistic == pytest.approx(statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(p_value, abs=1e-12)


def test_chi_square_with_one_category_has_nothing_to_test():
    assert statistics.chi_square_two_sample(np.array([5.0, 0.0]), np.array([3.0, 0.0])).p_value == 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_wasserstein_is_scipys_weighted_or_not(seed):
    reference, current = _samples(seed)
    rng = np.random.default_rng(seed)
    assert statistics.wasserstein(reference, current) == pytest.approx(
        stats.wasserstein_distance(reference, current), rel=1e-10, abs=1e-12
    )
    weights = rng.random(len(current)) + 0.1
    assert statistics.wasserstein(reference, current, current_weights=weights) == pytest.approx(
        stats.wasserstein_distance(reference, current, v_weights=weights), rel=1e-10, abs=1e-12
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_jensen_shannon_is_scipys_in_base_two(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 40))
    p, q = rng.integers(0, 100, size=k) + 0.0, rng.integers(0, 100, size=k) + 0.0
    p[0] += 1
    q[-1] += 1
    assert statistics.jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)


def test_jensen_shannon_of_disjoint_distributions_is_one_and_of_equal_ones_zero():
    assert statistics.jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(1.0)
    assert statistics.jensen_shannon(np.array([2.0, 6.0]), np.array([1.0, 3.0])) == pytest.approx(0.0, abs=1e-12)


def test_psi_is_the_textbook_sum_with_empty_bins_floored():
    reference, current = np.array([50.0, 30.0, 20.0, 0.0]), np.array([30.0, 30.0, 30.0, 10.0])
    r = np.maximum(reference / 100, statistics.PSI_FLOOR)
    c = np.maximum(current / 100, statistics.PSI_FLOOR)
    assert statistics.population_stability_index(reference, current) == pytest.approx(
        float(np.sum((c - r) * np.log(c / r)))
    )
    assert statistics.population_stability_index(reference, reference) == 0.0


def test_bin_counts_put_values_between_the_edges():
    counts = statistics.bin_counts(np.array([-5.0, 0.0, 0.5, 1.0, 7.0]), np.array([0.0, 1.0]))
    assert counts.tolist() == [1.0, 2.0, 2.0]  # (-inf, 0), [0, 1), [1, inf)


def test_a_sorted_samples_bin_weights_are_bin_counts():
    rng = np.random.default_rng(3)
    values, weights = np.round(rng.normal(size=500), 1), rng.random(500)
    edges = np.array([-1.0, 0.0, 0.5, 1.0])
    assert statistics.Sample.of(values).bin_weights(edges) == pytest.approx(statistics.bin_counts(values, edges))
    assert statistics.Sample.of(values, weights).bin_weights(edges) == pytest.approx(
        statistics.bin_counts(values, edges, weights)
    )


def test_empty_samples_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        statistics.ks_two_sample(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="at least one"):
        statistics.wasserstein(np.array([1.0]), np.array([]))
