"""Predictions before a cut-off do not depend on data after it, and caches follow ingests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from downside.api import Forecaster
from downside.config import load_settings
from downside.features import FeatureStore
from downside.sources import read_files
from downside.store import Store


def _truncated_files(market: Path, cutoff: pd.Timestamp, target: Path) -> Path:
    """The simulated market's files with every row at ``ts >= cutoff`` removed."""
    target.mkdir(parents=True)
    for raw in read_files(market):
        frame = raw.frame
        kept = frame[pd.to_datetime(frame["ts"], utc=True) < cutoff]
        assert 0 < len(kept) < len(frame), raw.table
        kept.to_parquet(target / f"{raw.table}.parquet", index=False)
    return target


@pytest.mark.slow
@pytest.mark.parametrize("cutoff", ["2024-03-13", "2025-01-20"])
def test_predictions_before_a_cutoff_ignore_later_data(
    trained_env: Path, simulated_market: Path, tmp_path: Path, cutoff: str
) -> None:
    full = Forecaster.load()
    assert full.drawdown is not None
    assert full.support is not None
    cut = pd.Timestamp(cutoff, tz="UTC")
    files = _truncated_files(simulated_market, cut, tmp_path / "files")
    settings = load_settings({"home": tmp_path / "cut"})
    Store.from_settings(settings).ingest_files(files)
    early = Forecaster(full.drawdown, full.support, FeatureStore.from_settings(settings))
    first = pd.Timestamp("2021-09-01", tz="UTC")
    times = pd.date_range(first, cut - pd.Timedelta(days=1), freq="D")
    hourly = pd.date_range(cut - pd.Timedelta(days=3), cut - pd.Timedelta(hours=1), freq="h")
    for when in (times, hourly):
        a = full.predict_drawdown(["BTC", "ETH", "SOL"], asof=when, allow_stale=True)
        b = early.predict_drawdown(["BTC", "ETH", "SOL"], asof=when, allow_stale=True)
        assert len(a) == len(when) * 3 * 25
        pd.testing.assert_frame_equal(a, b)
    weekly = times[::3]
    a = full.predict_support_break("BTC", asof=weekly, levels=None, allow_stale=True)
    b = early.predict_support_break("BTC", asof=weekly, levels=None, allow_stale=True)
    assert a["asof"].nunique() == len(weekly)
    pd.testing.assert_frame_equal(a, b)
    price = float(a["ref_close"].iloc[-1])
    last = times[-1]
    a = full.predict_support_break("BTC", asof=last, levels=[price * 0.95, price * 0.9])
    b = early.predict_support_break("BTC", asof=last, levels=[price * 0.95, price * 0.9])
    pd.testing.assert_frame_equal(a, b)


def test_caches_follow_the_store_version(
    trained_env: Path, simulated_market: Path, tmp_path: Path
) -> None:
    """A forecaster kept open sees newly ingested data on its next query."""
    cut = pd.Timestamp("2025-03-01", tz="UTC")
    store_dir = trained_env / "store"
    shutil.rmtree(store_dir)
    settings = load_settings()
    Store.from_settings(settings).ingest_files(
        _truncated_files(simulated_market, cut, tmp_path / "files")
    )
    fc = Forecaster.load()
    before = fc.predict_drawdown("BTC", thresholds=[0.1], horizons=[7])
    assert before["asof"].iloc[0] == cut
    Store.from_settings(settings).ingest_files(simulated_market)
    after = fc.predict_drawdown("BTC", thresholds=[0.1], horizons=[7])
    assert after["asof"].iloc[0] > cut
    prices = fc.feature_store.store.prices("1d", fc.feature_store.daily_venues, ["BTC"])
    known = prices[prices["available_ts"] <= after["asof"].iloc[0]]
    assert after["ref_close"].iloc[0] == known["close"].iloc[-1]
    again = fc.predict_drawdown("BTC", asof=cut, thresholds=[0.1], horizons=[7])
    pd.testing.assert_frame_equal(again, before)
