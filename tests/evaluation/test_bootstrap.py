"""Block bootstrap: block layout, reproducibility, coverage on dependent data, memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from downside.errors import ModelInputError
from downside.evaluation import block_bootstrap_ci, brier_skill


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(0, 1, n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def _resamples(n: int, block: int, n_boot: int, scheme: str) -> np.ndarray:
    """The row numbers each replicate drew, recorded by the metric (its last call is
    the estimate on the original rows)."""
    seen: list[np.ndarray] = []

    def record(rows: np.ndarray) -> float:
        seen.append(rows.copy())
        return float(rows.mean())

    block_bootstrap_ci(
        record, np.arange(n), block_length=block, n_boot=n_boot, seed=1, scheme=scheme
    )
    return np.array(seen[-n_boot - 1 : -1])


def test_replicates_are_consecutive_blocks() -> None:
    circular = _resamples(10, 4, 50, "circular")
    assert circular.shape == (50, 10)
    steps = np.diff(circular, axis=1) % 10
    # inside a block the next row is the following one (wrapping around the end)
    assert (steps[:, [0, 1, 2, 4, 5, 6, 8]] == 1).all()
    assert (circular[:, ::4] > 6).any()  # circular blocks may start near the end and wrap
    moving = _resamples(10, 4, 200, "moving")
    assert moving[:, ::4].max() <= 6
    assert (np.diff(moving, axis=1)[:, [0, 1, 2, 4, 5, 6]] == 1).all()


def test_interval_covers_the_true_mean_of_dependent_data() -> None:
    true_mean = 0.0
    hits_block = hits_iid = 0
    for seed in range(40):
        x = _ar1(400, 0.7, seed)
        block = block_bootstrap_ci(np.mean, x, block_length=25, n_boot=300, seed=seed)
        iid = block_bootstrap_ci(np.mean, x, block_length=1, n_boot=300, seed=seed)
        hits_block += block.contains(true_mean)
        hits_iid += iid.contains(true_mean)
    # nominal 90%: blocks keep the autocorrelation and come close; single rows undercover
    assert hits_block >= 30
    assert hits_iid <= hits_block - 8


def test_paired_skill_interval_contains_its_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(3)
    p_true = rng.uniform(0.05, 0.6, 2_000)
    y = (rng.random(2_000) < p_true).astype(float)
    ref = np.full(2_000, y.mean())
    first = block_bootstrap_ci(brier_skill, p_true, ref, y, block_length=20, n_boot=200, seed=5)
    second = block_bootstrap_ci(brier_skill, p_true, ref, y, block_length=20, n_boot=200, seed=5)
    assert first == second
    assert first.lower < first.estimate < first.upper
    assert first.lower > 0  # the informed forecast has skill over climatology


def test_bad_arguments_are_listed() -> None:
    with pytest.raises(ModelInputError, match=r"(?s)length_mismatch.*level") as info:
        block_bootstrap_ci(np.mean, np.ones(5), np.ones(6), block_length=2, level=1.5)
    assert len(info.value.problems) == 2
    with pytest.raises(ModelInputError, match="block_length"):
        block_bootstrap_ci(np.mean, np.ones(5), block_length=9)


def test_memory_grows_with_rows_not_rows_times_replicates() -> None:
    n = 200_000
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.6, n)
    y = (rng.random(n) < p).astype(float)
    ref = np.full(n, y.mean())
    block_bootstrap_ci(brier_skill, p, ref, y, block_length=50, n_boot=3)  # import arch
    tracemalloc.start()
    try:
        block_bootstrap_ci(brier_skill, p, ref, y, block_length=50, n_boot=200)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # one replicate's rows (a few arrays of 1.6 MB); an index matrix would be 320 MB
    assert peak < 40 * 2**20
