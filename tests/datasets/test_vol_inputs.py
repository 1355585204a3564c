"""The frame builder's volatility inputs: implied volatility of day D only from D+1 00:00
UTC, standardized returns only from bars already closed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.config import load_settings
from downside.datasets import VOL_INPUTS, FrameSpec, build_frame
from downside.features import FeatureStore
from downside.sources import simulate_market
from downside.store import Store


@pytest.fixture(scope="module")
def fs(tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    root = tmp_path_factory.mktemp("volinputs")
    settings = load_settings({"home": root / "home"})
    sim = simulate_market(root / "market", start="2023-01-01", end="2024-03-31", seed=4)
    Store.from_settings(settings).ingest_files(sim.out_dir)
    return FeatureStore.from_settings(settings)


def test_implied_vol_of_day_d_is_used_from_d_plus_one_midnight(fs: FeatureStore) -> None:
    table = fs.store.read("implied_vol_daily")
    btc = table[table["symbol"] == "BTC"].set_index("event_ts")["iv_annualized_pct"]
    day = pd.Timestamp("2024-02-10", tz="UTC")
    times = [day + pd.Timedelta(hours=h) for h in (0, 1, 23)] + [day + pd.Timedelta(days=1)]
    spec = FrameSpec(target="drawdown", symbols=("BTC",), thresholds=(0.1,), horizons_days=(7,))
    frame = build_frame(spec, fs, asof=times, labels=False).frame
    sigma = frame.set_index("asof")["sigma_implied"]
    per_day = 100.0 * np.sqrt(365.0)
    previous = btc[day - pd.Timedelta(days=1)] / per_day
    for t in times[:3]:  # during day D: the close of D-1 (known at D 00:00)
        assert sigma[t] == pytest.approx(previous)
    assert sigma[times[3]] == pytest.approx(btc[day] / per_day)  # D's close from D+1 00:00
    assert btc[day] != btc[day - pd.Timedelta(days=1)]


def test_standardized_return_is_the_last_closed_bar_over_the_volatility_before_it(
    fs: FeatureStore,
) -> None:
    spec = FrameSpec(target="drawdown", symbols=("ETH",), thresholds=(0.1,), horizons_days=(1,))
    times = pd.date_range("2024-01-05", periods=20, freq="D", tz="UTC")
    frame = build_frame(spec, fs, asof=list(times), labels=False).frame.set_index("asof")
    bars = fs.store.prices("1d", fs.daily_venues, ["ETH"]).set_index("available_ts")
    for t in times[1:]:
        ret = np.log(bars.loc[t, "close"] / bars.loc[t - pd.Timedelta(days=1), "close"])
        sigma_before = frame.loc[t - pd.Timedelta(days=1), "sigma_daily"]
        assert frame.loc[t, "std_ret_1d"] == pytest.approx(ret / sigma_before, rel=1e-12)


def test_volatility_inputs_feed_the_base_not_the_trees(fs: FeatureStore, tmp_path: Path) -> None:
    from downside.models import DrawdownSurface

    spec = FrameSpec(target="drawdown", symbols=("BTC", "ETH"))
    data = build_frame(spec, fs)
    assert set(VOL_INPUTS) <= set(data.input_columns)
    rows = data.labelled
    model = DrawdownSurface(n_estimators=5, base="combo", calibration="none", n_jobs=1)
    model.fit(rows[list(data.input_columns)], rows["label"], times=rows["asof"])
    assert not set(VOL_INPUTS) & set(model.tree_features_)
    assert model.base_fhs_ is not None
    again = DrawdownSurface.from_state(model.to_state())
    x = rows[list(data.input_columns)].iloc[:500]
    np.testing.assert_array_equal(again.predict_proba(x), model.predict_proba(x))
