"""A spec with intraday training rows (``[data] train_hours``) is backtested like for
like with its daily twin: the same folds and test rows (00:00 UTC only), every baseline
fitted and scored exactly as for the daily spec; only the model sees more rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from downside.config import load_settings
from downside.datasets import build_frame
from downside.features import FeatureStore
from downside.models import daily_rows, folds, parse_spec
from downside.models import test_rows as fold_test_rows  # not collected as a test
from downside.sources import simulate_market
from downside.store import Store
from downside.workflows import BacktestResult, run_backtest

SPEC = """
name = "drawdown"
target = "drawdown"

[data]
symbols = ["BTC", "ETH"]

[grid]
thresholds = [0.05, 0.10, 0.20]
horizons_days = [1, 3, 7]

[features]
families = ["funding", "technical"]

[walk_forward]
scheme = "expanding"
test_days = 90
embargo_days = 1
min_train_days = 300

[model]
n_estimators = 20
learning_rate = 0.1
num_leaves = 4
min_child_samples = 200
base = "parkinson"
calibration = "none"
"""
START, END = "2023-07-01", "2023-12-31"


@pytest.fixture(scope="module")
def fs(tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    root = tmp_path_factory.mktemp("intraday-backtest")
    settings = load_settings({"home": root / "home"})
    sim = simulate_market(root / "market", start="2022-07-01", end="2024-01-31", seed=5)
    Store.from_settings(settings).ingest_files(sim.out_dir)
    return FeatureStore.from_settings(settings)


@pytest.fixture(scope="module")
def results(fs: FeatureStore) -> tuple[BacktestResult, BacktestResult]:
    daily = parse_spec(SPEC)
    intraday = parse_spec(SPEC.replace('["BTC", "ETH"]', '["BTC", "ETH"]\ntrain_hours = [0, 12]'))
    assert intraday.frame.train_hours == (0, 12)
    return tuple(  # type: ignore[return-value]
        run_backtest(spec, fs, start=START, end=END, n_boot=20) for spec in (daily, intraday)
    )


def test_folds_test_rows_and_training_rows_at_midnight_are_the_daily_specs(
    fs: FeatureStore,
) -> None:
    daily = parse_spec(SPEC)
    intraday = replace(daily, frame=replace(daily.frame, train_hours=(0, 12)))
    d, i = build_frame(daily.frame, fs), build_frame(intraday.frame, fs)
    fd, fi = list(folds(daily, d)), list(folds(intraday, i))
    assert [(f.test_start, f.test_end) for f in fd] == [(f.test_start, f.test_end) for f in fi]
    for a, b in zip(fd, fi, strict=True):
        test = fold_test_rows(intraday, i, b)
        assert (test["asof"].dt.hour == 0).all()
        pd.testing.assert_frame_equal(
            test.reset_index(drop=True), fold_test_rows(daily, d, a).reset_index(drop=True)
        )
        train = i.labelled.iloc[b.train_idx]
        assert (train["asof"].dt.hour == 12).any()
        pd.testing.assert_frame_equal(
            daily_rows(intraday, train).reset_index(drop=True),
            d.labelled.iloc[a.train_idx].reset_index(drop=True),
        )


def test_baselines_score_exactly_as_for_the_daily_spec(
    results: tuple[BacktestResult, BacktestResult],
) -> None:
    daily, intraday = results
    keys = ["symbol", "asof", "threshold", "horizon_days", "label"]
    pd.testing.assert_frame_equal(intraday.predictions[keys], daily.predictions[keys])
    baselines = [c for c in daily.predictions.columns if c.startswith("p_") and c != "p_model"]
    assert {"p_climatology", "p_gbm_parkinson", "p_har", "p_garch_fhs"} <= set(baselines)
    pd.testing.assert_frame_equal(intraday.predictions[baselines], daily.predictions[baselines])
    names = [b[2:] for b in baselines]
    pd.testing.assert_frame_equal(intraday.losses[names], daily.losses[names])
    assert intraday.best_baseline == daily.best_baseline
    assert not np.allclose(intraday.predictions["p_model"], daily.predictions["p_model"])
    assert (intraday.folds["n_train"] > daily.folds["n_train"]).all()


def test_monotonicity_check_samples_the_daily_specs_rows(
    results: tuple[BacktestResult, BacktestResult],
) -> None:
    daily, intraday = results
    assert intraday.grid_points == daily.grid_points
