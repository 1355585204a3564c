"""Plausibility rules: each refuses a bad input with a message naming the rule, the file or
label, the column and the rows; good inputs (crashes, small venue gaps) pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.errors import SchemaError
from downside.store import TS_FLOOR, Store
from downside.testing.store import tree_digest

Bars = Callable[..., pd.DataFrame]
PRICES = ["open", "high", "low", "close"]


def _refused(store: Store, tables: dict[str, pd.DataFrame]) -> SchemaError:
    before, version = tree_digest(store.root), store.version
    with pytest.raises(SchemaError) as caught:
        store.ingest(tables, origin="t")
    assert tree_digest(store.root) == before
    assert store.version == version
    return caught.value


def test_a_1000x_bar_with_consistent_ohlc_is_refused(store: Store, bars: Bars) -> None:
    frame = bars(periods=10)
    frame.loc[5, PRICES] *= 1000.0
    error = _refused(store, {"ohlcv_daily": frame})
    rules = {(p.rule, p.detail.split("'")[1]) for p in error.problems}
    assert rules == {("price_jump", "open"), ("price_jump", "high"), ("price_jump", "close")}
    text = str(error)
    assert "t:ohlcv_daily: price_jump (1)" in text
    assert "event_ts=2024-01-06T00:00:00+00:00 symbol=BTC venue=coinbase_spot close=105000" in text
    assert "DOWNSIDE_STORE_JUMP_LIMIT" in text


def test_a_jump_is_judged_against_the_stored_neighbours(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_daily": bars(periods=10)}, origin="seed")
    page = bars(periods=12).iloc[10:].copy()
    page[PRICES] = page[PRICES] / 1000.0  # the next page in another unit
    error = _refused(store, {"ohlcv_daily": page})
    assert {p.rule for p in error.problems} == {"price_jump"}
    store.ingest({"ohlcv_daily": bars(periods=12).iloc[10:]}, origin="right")
    assert len(store.read("ohlcv_daily")) == 12


def test_crashes_and_flash_lows_within_the_limit_pass(store: Store, bars: Bars) -> None:
    frame = bars(periods=10)
    frame.loc[5:, ["open", "high", "low", "close"]] *= 0.4  # a 60% crash that stays
    frame.loc[5, "open"] = frame.loc[4, "close"]
    frame.loc[5, "high"] = frame.loc[5, "open"] + 1.0
    frame.loc[7, "low"] = 0.01  # a flash crash print: lows are not bounded below
    report = store.ingest({"ohlcv_daily": frame}, origin="crash")
    assert report.inserted == 10


def test_jump_limit_is_configurable(isolated_env: Path, bars: Bars) -> None:
    frame = bars(periods=10)
    frame.loc[5, PRICES] *= 4.0
    strict = Store(isolated_env / "strict", jump_limit=3.0)
    error = _refused(strict, {"ohlcv_daily": frame})
    assert "factor 3 of the median close" in str(error)
    assert (
        Store(isolated_env / "default")
        .ingest(  # type: ignore[operator]
            {"ohlcv_daily": frame}, origin="t"
        )
        .inserted
        == 10
    )


def test_a_close_far_from_the_other_venues_is_refused(store: Store, bars: Bars) -> None:
    store.ingest(
        {"ohlcv_daily": pd.concat([bars(), bars("binance_spot", price=100.5)])}, origin="seed"
    )
    other = bars("cryptoquant_spot_all_exchanges", periods=5)
    other.loc[2, PRICES] *= 2.0
    error = _refused(store, {"ohlcv_daily": other})
    (problem,) = error.problems
    assert (problem.rule, problem.count) == ("venue_mismatch", 1)
    assert "other venues: binance_spot 102.5, coinbase_spot 102" in problem.examples[0]
    near = bars("cryptoquant_spot_all_exchanges", periods=5, price=104.0)  # 4% off: real
    assert store.ingest({"ohlcv_daily": near}, origin="cq").inserted == 5


def test_a_missing_value_never_replaces_a_stored_one_unless_asked(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_daily": bars()}, origin="seed")
    holes = bars()
    holes.loc[1:2, ["open", "high", "low"]] = np.nan
    error = _refused(store, {"ohlcv_daily": holes})
    found = {(p.rule, p.count, p.detail.split("'")[1]) for p in error.problems}
    assert found == {("null_overwrites_value", 2, c) for c in ("open", "high", "low")}
    assert "allow_null_updates=True" in str(error)
    assert "stored open=101.5" in str(error)
    report = store.ingest({"ohlcv_daily": holes}, origin="asked", allow_null_updates=True)
    assert report.updated == 2
    assert store.read("ohlcv_daily")["open"].isna().sum() == 2


@pytest.mark.parametrize(
    ("ts", "table"),
    [
        ("2031-01-01", "ohlcv_daily"),
        ("2200-01-01", "ohlcv_daily"),
        ("1970-01-01", "ohlcv_daily"),
        ("2009-01-02", "ohlcv_hourly"),
    ],
)
def test_times_before_2009_or_after_now_are_refused(
    store: Store, bars: Bars, ts: str, table: str
) -> None:
    frame = bars(freq="1h" if table == "ohlcv_hourly" else "1D")
    frame.loc[2, "ts"] = pd.Timestamp(ts, tz="UTC")
    error = _refused(store, {table: frame})
    (problem,) = error.problems
    assert problem.rule == "ts_out_of_range"
    assert f"between {TS_FLOOR:%Y-%m-%d} and now plus one bar" in problem.detail
    assert problem.examples[0].startswith("row 3: ts=")


def test_the_clock_sets_the_ceiling_and_macro_reaches_back(
    tmp_path: Path, bars: Bars, macro: Callable[..., pd.DataFrame]
) -> None:
    frozen = Store(tmp_path / "s", now=lambda: pd.Timestamp("2024-01-03 12:00", tz="UTC"))
    error = _refused(frozen, {"ohlcv_daily": bars(periods=6)})
    assert error.problems[0].count == 2  # Jan 5 and 6; Jan 4 opens within one bar
    assert frozen.ingest({"ohlcv_daily": bars(periods=4)}, origin="t").inserted == 4
    old = macro("DFF", ["1954-07-01", "1954-07-02"])
    assert frozen.ingest({"macro_rates_daily": old}, origin="fred").inserted == 2


@pytest.mark.parametrize("value", ["btc", "Btc", "eth"])
def test_symbols_must_be_upper_case(store: Store, bars: Bars, value: str) -> None:
    error = _refused(store, {"ohlcv_daily": bars(symbol=value)})
    (problem,) = error.problems
    assert problem.rule == "non_canonical_symbols"
    assert repr(value) in problem.detail


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("volume_base", 1e300, "out_of_range"),
        ("close", 1e300, "out_of_range"),
        ("volume_quote", np.inf, "non_finite_values"),
    ],
)
def test_magnitudes_are_bounded(
    store: Store, bars: Bars, column: str, value: float, rule: str
) -> None:
    frame = bars()
    frame.loc[1, column] = value
    if column == "close":
        frame.loc[1, "high"] = value
    error = _refused(store, {"ohlcv_daily": frame})
    assert {p.rule for p in error.problems} == {rule}
    assert f"column {column!r}" in str(error)


def test_funding_rates_and_int_columns_are_bounded(store: Store) -> None:
    funding = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 08:00"], utc=True),
            "symbol": "BTC",
            "venue": "binance",
            "instrument": "BTCUSDT-PERP",
            "funding_rate": [0.0001, 2.0],
            "funding_interval_h": [8.0, np.inf],
        }
    )
    error = _refused(store, {"funding_rates_8h": funding})
    assert {(p.rule, p.detail.split("'")[1]) for p in error.problems} == {
        ("out_of_range", "funding_rate"),
        ("non_finite_values", "funding_interval_h"),
    }
