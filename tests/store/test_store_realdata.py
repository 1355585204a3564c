"""The real shared data ingests in one go, completely, in seconds."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from downside.sources import read_files
from downside.store import Store

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_ingest_all_shared_data(shared_data: Path, store: Store) -> None:
    started = time.perf_counter()
    report = store.ingest_files(shared_data)
    elapsed = time.perf_counter() - started
    assert elapsed < 30, f"ingest took {elapsed:.1f} s"

    file_rows = {raw.table: len(raw.frame) for raw in read_files(shared_data)}
    # implied_vol/implied_vol_daily.parquet sits in a subfolder: 1,528 BTC + 912 ETH days
    assert file_rows["implied_vol_daily"] == 2440
    frame = report.to_frame().set_index("table")
    assert frame["rows_read"].to_dict() == file_rows
    assert frame["inserted"].to_dict() == file_rows
    assert frame["total_rows"].to_dict() == file_rows
    assert {t: f["rows"] for t, f in store.fingerprint().items()} == file_rows
    # the four CryptoQuant bars of 2023-11-21/22 documented in the data README
    assert [(w.rule, w.count) for w in report.warnings] == [("open_close_within_tolerance", 4)]

    dvol = store.read("implied_vol_daily", symbols=["BTC"])
    assert dvol["event_ts"].iloc[0] == pd.Timestamp("2021-03-24", tz="UTC")
    assert (dvol["available_ts"] == dvol["event_ts"] + pd.Timedelta(days=1)).all()

    again = store.ingest_files(shared_data)
    assert not again.changed
    assert again.to_frame()["unchanged"].sum() == sum(file_rows.values())

    started = time.perf_counter()
    hourly = store.prices("1h", ["binance_spot", "glassnode_market_price"])
    assert time.perf_counter() - started < 1.0
    assert not hourly.duplicated(["symbol", "event_ts"]).any()
    assert len(hourly) == file_rows["ohlcv_hourly"]  # the two venues never overlap
    spans = report.venue_spans["1d"]
    btc = spans[spans["symbol"] == "BTC"]
    assert btc["venue"].tolist() == ["cryptoquant_spot_all_exchanges", "coinbase_spot"]
    assert btc["last_ts"].iloc[0] == pd.Timestamp("2019-12-31", tz="UTC")
