"""Ingestion: idempotent upserts, counts, reading back, versions and fingerprints."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from downside.errors import EmptyStoreError, InvalidNameError, StoreError, StoreQueryError
from downside.store import REPORT_COLUMNS, PublicationRule, PublicationRules, Store

Bars = Callable[..., pd.DataFrame]


def test_ingest_twice_changes_nothing(store: Store, bars: Bars) -> None:
    frame = bars(periods=10)
    first = store.ingest({"ohlcv_daily": frame}, origin="a")
    assert first.table("ohlcv_daily").inserted == 10
    assert first.changed
    version = store.version
    data_files = sorted(p.name for p in (store.root / "data").iterdir())

    second = store.ingest({"ohlcv_daily": frame}, origin="a")
    counts = second.table("ohlcv_daily")
    assert (counts.rows_read, counts.inserted, counts.updated, counts.unchanged) == (10, 0, 0, 10)
    assert counts.total_rows == 10
    assert not second.changed
    assert store.version == version
    assert sorted(p.name for p in (store.root / "data").iterdir()) == data_files
    assert len(store.read("ohlcv_daily")) == 10


def test_overlapping_ingest_inserts_only_new_rows(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_daily": bars(periods=10)}, origin="a")
    version = store.version
    report = store.ingest({"ohlcv_daily": bars(periods=15)}, origin="b")
    counts = report.table("ohlcv_daily")
    assert (counts.inserted, counts.updated, counts.unchanged, counts.total_rows) == (5, 0, 10, 15)
    assert report.version_before == version != store.version == report.version_after
    got = store.read("ohlcv_daily")
    assert len(got) == 15
    assert not got.duplicated(["event_ts", "symbol", "venue"]).any()


def test_changed_value_replaces_the_old_one(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_daily": bars(periods=5)}, origin="a")
    version = store.version
    revised = bars(periods=5)
    revised.loc[2, "volume_base"] = 99.0
    revised.loc[3, "volume_quote"] = 5.0  # NaN -> value is a change too
    report = store.ingest({"ohlcv_daily": revised}, origin="revision")
    counts = report.table("ohlcv_daily")
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 2, 3)
    assert store.version != version
    got = store.read("ohlcv_daily")
    assert got["volume_base"].tolist() == [10.0, 10.0, 99.0, 10.0, 10.0]
    assert got.loc[3, "volume_quote"] == 5.0
    assert len(got) == 5


def test_other_tables_are_kept_when_one_is_ingested(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_daily": bars()}, origin="a")
    store.ingest({"ohlcv_hourly": bars(freq="1h", periods=48)}, origin="b")
    assert store.tables() == ["ohlcv_daily", "ohlcv_hourly"]
    assert len(store.read("ohlcv_daily")) == 5
    assert len(store.read("ohlcv_hourly")) == 48


def test_read_layout_order_and_dtypes(store: Store, bars: Bars) -> None:
    frame = pd.concat(
        [
            bars(symbol="ETH", venue="binance_spot"),
            bars(symbol="BTC"),
            bars(symbol="BTC", venue="binance_spot"),
        ]
    ).sample(frac=1.0, random_state=3)
    store.ingest({"ohlcv_daily": frame}, origin="a")
    got = store.read("ohlcv_daily")
    assert list(got.columns) == [
        "event_ts",
        "available_ts",
        "symbol",
        "venue",
        "pair",
        "open",
        "high",
        "low",
        "close",
        "volume_base",
        "volume_quote",
    ]
    assert str(got["event_ts"].dtype) == str(got["available_ts"].dtype) == "datetime64[us, UTC]"
    assert str(got["symbol"].dtype) == "str"
    expected = got.sort_values(["symbol", "venue", "event_ts"], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    assert (got["available_ts"] - got["event_ts"] == pd.Timedelta(days=1)).all()


def test_read_filters_by_symbol_and_availability(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_daily": pd.concat([bars(symbol="BTC"), bars(symbol="ETH")])}, origin="a")
    assert store.read("ohlcv_daily", symbols=["ETH"])["symbol"].unique().tolist() == ["ETH"]
    asof = pd.Timestamp("2024-01-03", tz="UTC")
    known = store.read("ohlcv_daily", symbols="BTC", available_by=asof)
    # bars of Jan 1 and Jan 2 have closed by Jan 3 00:00; the Jan 3 bar has not
    assert known["event_ts"].dt.day.tolist() == [1, 2]
    assert (known["available_ts"] <= asof).all()
    early = store.read("ohlcv_daily", available_by=pd.Timestamp("2023-01-01", tz="UTC"))
    assert early.empty
    assert list(early.columns) == list(store.read("ohlcv_daily").columns)


def test_etf_symbols_filter_on_asset(store: Store, etf: Callable[..., pd.DataFrame]) -> None:
    store.ingest({"etf_flows_daily": etf(["2024-07-05"])}, origin="farside")
    got = store.read("etf_flows_daily", symbols=["BTC"])
    assert got["available_ts"].tolist() == [pd.Timestamp("2024-07-06 12:00", tz="UTC")]
    assert store.read("etf_flows_daily", symbols=["ETH"]).empty


def test_read_errors(store: Store, macro: Callable[..., pd.DataFrame]) -> None:
    with pytest.raises(EmptyStoreError, match=r"table 'macro_rates_daily' has no rows.*ingest"):
        store.read("macro_rates_daily")
    with pytest.raises(InvalidNameError, match=r"invalid table name 'ohlcv'"):
        store.read("ohlcv")
    store.ingest({"macro_rates_daily": macro("DGS10", ["2024-07-05"])}, origin="fred")
    with pytest.raises(StoreQueryError, match=r"has keys \['series'\] and no symbol"):
        store.read("macro_rates_daily", symbols=["BTC"])
    with pytest.raises(StoreQueryError, match=r"received naive 2024-07-09.*tz='UTC'"):
        store.read("macro_rates_daily", available_by=pd.Timestamp("2024-07-09"))
    got = store.read("macro_rates_daily", available_by=pd.Timestamp("2024-07-08 20:00", tz="UTC"))
    assert got["series"].tolist() == ["DGS10"]


def test_fingerprint_version_and_emptiness(store: Store, bars: Bars) -> None:
    assert store.is_empty
    assert store.fingerprint() == {}
    assert store.version == "empty"
    store.ingest({"ohlcv_daily": bars(periods=3)}, origin="a")
    assert not store.is_empty
    assert store.fingerprint() == {
        "ohlcv_daily": {
            "rows": 3,
            "first_event_ts": "2024-01-01T00:00:00+00:00",
            "last_event_ts": "2024-01-03T00:00:00+00:00",
            "last_available_ts": "2024-01-04T00:00:00+00:00",
        }
    }
    assert len(store.version) == 16
    # a second handle on the same folder sees the same state
    twin = Store(store.root)
    assert twin.version == store.version
    pd.testing.assert_frame_equal(twin.read("ohlcv_daily"), store.read("ohlcv_daily"))


def test_same_content_gives_the_same_version(tmp_path: Path, bars: Bars) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    a.ingest({"ohlcv_daily": bars()}, origin="x")
    b.ingest({"ohlcv_daily": bars()}, origin="y")
    assert a.version == b.version


def test_report_frame(store: Store, bars: Bars, etf: Callable[..., pd.DataFrame]) -> None:
    report = store.ingest(
        {"ohlcv_daily": bars(), "etf_flows_daily": etf(["2024-01-11", "2024-01-12"])},
        origin="cli",
    )
    frame = report.to_frame()
    assert tuple(frame.columns) == REPORT_COLUMNS
    assert frame["table"].tolist() == ["ohlcv_daily", "etf_flows_daily"]
    assert frame["inserted"].tolist() == [5, 2]
    assert frame["source"].tolist() == ["cli:ohlcv_daily", "cli:etf_flows_daily"]
    assert report.inserted == 7
    assert report.updated == 0
    with pytest.raises(KeyError, match="was not ingested"):
        report.table("ohlcv_hourly")


class _Backwards(PublicationRule):
    """A broken custom rule: later events become known earlier."""

    def apply(self, event_ts: pd.Series) -> pd.Series:
        return pd.Timestamp("2030-01-01", tz="UTC") - (event_ts - event_ts.min())


def test_non_monotone_custom_rule_is_refused(tmp_path: Path, bars: Bars) -> None:
    rules = PublicationRules.default()
    broken = dataclasses.replace(
        rules, tables={**rules.tables, "ohlcv_daily": _Backwards(kind="delay")}
    )
    store = Store(tmp_path / "s", rules=broken)
    with pytest.raises(
        StoreError,
        match=r"decrease with event_ts or precede it in 4 rows.*BTC coinbase_spot 2024-01-02",
    ):
        store.ingest({"ohlcv_daily": bars()}, origin="x")
    assert store.is_empty
