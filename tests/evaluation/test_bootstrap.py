"""Block bootstrap: index layout, reproducibility and coverage on dependent data."""

from __future__ import annotations

import numpy as np
import pytest

from downside.errors import ModelInputError
from downside.evaluation import block_bootstrap_ci, block_indices, brier_skill


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(0, 1, n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def test_block_indices_are_consecutive_runs() -> None:
    idx = block_indices(10, 4, 3, np.random.default_rng(0), "circular")
    assert idx.shape == (3, 10)
    steps = np.diff(idx, axis=1) % 10
    # inside a block the next row is the following one (wrapping around the end)
    assert (steps[:, [0, 1, 2, 4, 5, 6, 8]] == 1).all()
    moving = block_indices(10, 4, 200, np.random.default_rng(1), "moving")
    starts = moving[:, ::4]
    assert starts.max() <= 6
    assert (np.diff(moving, axis=1)[:, [0, 1, 2]] == 1).all()


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
