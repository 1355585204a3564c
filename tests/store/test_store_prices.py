"""Venue stitching: one continuous series per symbol, gaps filled by the next venue."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from downside.errors import EmptyStoreError, StoreQueryError
from downside.store import PRICE_COLUMNS, SPAN_COLUMNS, Store

Bars = Callable[..., pd.DataFrame]


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture
def gappy(store: Store, bars: Bars) -> Store:
    """BTC: coinbase Jan 1-10 with Jan 4-5 missing; binance Jan 1-12 (10% higher prices,
    within the venue limit); cryptoquant Jan 1-12 (never preferred below). ETH: binance
    only."""
    coinbase = bars("coinbase_spot", periods=10, price=100.0)
    coinbase = coinbase[~coinbase["ts"].isin([_ts("2024-01-04"), _ts("2024-01-05")])]
    frame = pd.concat(
        [
            coinbase,
            bars("binance_spot", periods=12, price=110.0),
            bars("cryptoquant_spot_all_exchanges", periods=12, price=120.0),
            bars("binance_spot", symbol="ETH", periods=3, price=10.0),
        ]
    )
    store.ingest({"ohlcv_daily": frame}, origin="venues")
    return store


def test_first_preferred_venue_serves_each_bar(gappy: Store) -> None:
    got = gappy.prices("1d", ["coinbase_spot", "binance_spot"], symbols=["BTC"])
    assert tuple(got.columns) == PRICE_COLUMNS
    assert got["event_ts"].is_monotonic_increasing
    assert got["event_ts"].tolist() == list(pd.date_range("2024-01-01", periods=12, tz="UTC"))
    assert (
        got["venue"].tolist()
        == ["coinbase_spot"] * 3
        + ["binance_spot"] * 2
        + ["coinbase_spot"] * 5
        + ["binance_spot"] * 2
    )
    # served values are the serving venue's own bar, not a mix
    assert got.loc[0, "close"] == 100.0
    assert got.loc[3, "close"] == 113.0
    assert got.loc[10, "close"] == 120.0
    assert "cryptoquant_spot_all_exchanges" not in set(got["venue"])
    assert (got["available_ts"] == got["event_ts"] + pd.Timedelta(days=1)).all()


def test_spans_record_which_venue_served_what(gappy: Store) -> None:
    got = gappy.venue_spans("1d", ["coinbase_spot", "binance_spot"])
    assert tuple(got.columns) == SPAN_COLUMNS
    rows = [
        (r.symbol, r.venue, r.first_ts.day, r.last_ts.day, r.bars)
        for r in got.itertuples(index=False)
    ]
    assert rows == [
        ("BTC", "coinbase_spot", 1, 3, 3),
        ("BTC", "binance_spot", 4, 5, 2),
        ("BTC", "coinbase_spot", 6, 10, 5),
        ("BTC", "binance_spot", 11, 12, 2),
        ("ETH", "binance_spot", 1, 3, 3),
    ]
    assert got["bars"].sum() == len(gappy.prices("1d", ["coinbase_spot", "binance_spot"]))


def test_preference_order_matters(gappy: Store) -> None:
    got = gappy.prices("1d", ["cryptoquant_spot_all_exchanges", "coinbase_spot"], ["BTC"])
    assert set(got["venue"]) == {"cryptoquant_spot_all_exchanges"}
    only_coinbase = gappy.prices("1d", ["coinbase_spot"], ["BTC"])
    assert len(only_coinbase) == 8  # the gap stays a gap when no listed venue fills it


def test_ingest_report_carries_default_spans(store: Store, bars: Bars) -> None:
    frame = pd.concat(
        [bars("binance_spot", freq="1h", periods=6), bars("sim_spot", freq="1h", periods=8)]
    )
    report = store.ingest({"ohlcv_hourly": frame}, origin="h")
    spans = report.venue_spans["1h"]
    assert spans[["venue", "bars"]].values.tolist() == [["binance_spot", 6], ["sim_spot", 2]]
    assert "1d" not in report.venue_spans


def test_price_errors(store: Store, gappy: Store) -> None:
    with pytest.raises(EmptyStoreError, match=r"table 'ohlcv_hourly' has no rows"):
        gappy.prices("1h", ["binance_spot"])
    with pytest.raises(EmptyStoreError, match=r"no 1d bars for symbols \['DOGE', 'ETH'\]"):
        gappy.prices("1d", ["coinbase_spot"], symbols=["BTC", "ETH", "DOGE"])
    with pytest.raises(StoreQueryError, match=r"freq must be .*venues must be a non-empty list"):
        gappy.prices("1w", [])  # type: ignore[arg-type]
