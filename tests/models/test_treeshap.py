"""Grouped TreeSHAP tables against LightGBM's own pred_contrib."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from downside.models._treeshap import GroupedTreeShap, leaf_tables


def _booster(seed: int, *, categorical: bool, zero_as_missing: bool = False) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    n = 3000
    X = rng.normal(size=(n, 6))
    X[:, 5] = rng.integers(0, 5, n)
    X[rng.random((n, 6)) < 0.1] = np.nan  # NaN-type splits on every column
    X[:, 4] = np.round(X[:, 4], 1)  # many exact zeros
    y = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) > 0.3
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "num_threads": 1,
        "verbose": -1,
        "seed": seed,
        "zero_as_missing": zero_as_missing,
        "deterministic": True,
    }
    data = lgb.Dataset(X, y.astype(float), categorical_feature=[5] if categorical else "auto")
    return lgb.train(params, data, num_boost_round=40)


def _rows(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    X = rng.normal(size=(400, 6)) * 1.5
    X[:, 5] = rng.integers(-1, 7, 400)  # unseen and negative category codes too
    X[:, 4] = np.round(X[:, 4], 1)
    X[rng.random((400, 6)) < 0.15] = np.nan
    return X


@pytest.mark.parametrize(
    ("categorical", "zero_as_missing"), [(False, False), (True, False), (False, True)]
)
def test_group_sums_equal_pred_contrib(categorical: bool, zero_as_missing: bool) -> None:
    booster = _booster(1, categorical=categorical, zero_as_missing=zero_as_missing)
    groups = [0, 1, 1, 2, 0, 2]
    explainer = GroupedTreeShap(booster.dump_model(), groups, 3)
    X = _rows(1)
    contrib = booster.predict(X, pred_contrib=True)
    expected = np.zeros((len(X), 3))
    for column, group in enumerate(groups):
        expected[:, group] += contrib[:, column]
    np.testing.assert_allclose(explainer(X), expected, atol=1e-12)
    np.testing.assert_allclose(explainer.expected_value, contrib[:, -1], atol=1e-12)


def test_row_groups_share_fixed_columns_without_changing_answers() -> None:
    booster = _booster(2, categorical=True)
    explainer = GroupedTreeShap(booster.dump_model(), [0, 0, 1, 1, 2, 2], 3)
    base = _rows(2)[:20]
    X = np.repeat(base, 7, axis=0)
    X[:, 0] = np.random.default_rng(3).normal(size=len(X))
    labels = np.repeat(np.arange(20), 7)
    np.testing.assert_array_equal(explainer(X, row_groups=labels, varying=[0]), explainer(X))
    with pytest.raises(ValueError, match="one row group per row"):
        explainer(X, row_groups=labels[:-1], varying=[0])
    with pytest.raises(ValueError, match="6 columns"):
        explainer(X[:, :5])


def test_leaf_tables_on_a_stump_give_value_minus_expectation() -> None:
    """One split: the feature gets v (o - z)."""
    phi = leaf_tables(np.array([[0.25]]), np.array([2.0]))
    np.testing.assert_allclose(phi[0, :, 0], [2.0 * (0 - 0.25), 2.0 * (1 - 0.25)])
