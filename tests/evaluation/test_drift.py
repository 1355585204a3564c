"""Population stability index: deciles, bins beyond the reference range, missing values."""

from __future__ import annotations

import numpy as np
import pytest

from downside.evaluation import bin_shares, population_stability, quantile_edges, window_psi


def test_same_distribution_is_stable() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=20_000)
    edges = quantile_edges(reference)
    expected = bin_shares(reference, edges, reference.min(), reference.max())
    assert len(edges) == 9
    assert expected.sum() == pytest.approx(1.0)
    assert expected[0] == expected[-2] == expected[-1] == 0.0  # below, above, missing
    recent = rng.normal(size=5_000)
    actual = bin_shares(recent, edges, reference.min(), reference.max())
    assert population_stability(expected, actual) < 0.02


def test_shift_and_values_beyond_the_range_drift() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=20_000)
    low, high = reference.min(), reference.max()
    edges = quantile_edges(reference)
    expected = bin_shares(reference, edges, low, high)
    shifted = bin_shares(rng.normal(1.0, 1.0, 2_000), edges, low, high)
    assert population_stability(expected, shifted) > 0.25
    inside_one_decile = bin_shares(np.full(100, edges[4] + 1e-9), edges, low, high)
    beyond = bin_shares(np.full(100, high + 1.0), edges, low, high)
    # a window inside one decile peaks near 8.3; all values beyond the range reach 16
    assert population_stability(expected, inside_one_decile) == pytest.approx(8.28, abs=0.01)
    assert population_stability(expected, beyond) > 16
    missing = bin_shares(np.full(100, np.nan), edges, low, high)
    assert missing[-1] == 1.0
    assert population_stability(expected, missing) > 5


def test_window_psi_gives_one_value_per_window() -> None:
    values = np.arange(100, dtype=float)
    edges = quantile_edges(values)
    expected = bin_shares(values, edges, 0.0, 99.0)
    out = window_psi(values, np.arange(100), expected, edges, 0.0, 99.0, window=10, step=10)
    assert len(out) == 10
    assert (out > 1).all()  # ten consecutive days sit in one decile


def test_mismatched_bins_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        population_stability([0.5, 0.5], [1.0])
