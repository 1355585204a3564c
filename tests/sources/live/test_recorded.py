"""The connectors' parsers on the real recorded responses in ../shared/fixtures, into the
canonical schema (checked by ingesting into a real store), and schema drift on them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
import respx

from downside.errors import PayloadError, RequestRejectedError
from downside.sources.live import (
    BinanceUsdm,
    FredApi,
    HttpOptions,
    RetryPolicy,
    aggregate_bars,
    kline_frame,
)
from downside.sources.live._binance import parse_premium_index
from downside.sources.live._ccxt import ohlcv_frame
from downside.sources.live._defillama import parse_stablecoin_list, stablecoin_ids
from downside.sources.live._fred import parse_fred_observations, parse_fredgraph_csv
from downside.store import Store

NOW = pd.Timestamp("2026-01-01", tz="UTC")


def load(shared: Path, name: str) -> object:
    return json.loads((shared / name).read_text())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store", lock_timeout_s=5)


def test_binance_futures_5m_klines_roll_up_to_complete_hours(
    shared_fixtures: Path, store: Store
) -> None:
    rows = load(shared_fixtures, "binance/binance_fapi_v1_klines_BTCUSDT_5m.json")
    bars, forming = kline_frame(
        rows,
        source="binance_usdm",
        interval="5m",
        symbol="BTC",
        venue="binance_usdm_perp",
        pair="BTCUSDT-PERP",
        now=NOW,
    )
    assert (len(bars), forming) == (200, 0)
    assert bars["ts"].iloc[0] == pd.Timestamp("2025-11-05 12:35", tz="UTC")
    assert bars["open"].iloc[0] == 102325.60
    assert bars["volume_quote"].iloc[0] == 23374918.90950
    hourly, left_out = aggregate_bars(bars, "1h", "5m")
    # 12:35-12:55 (5 bars) and 05:00-05:10 (3 bars) are partial hours: left out
    assert left_out == 8
    assert len(hourly) == 16
    first = bars[(bars["ts"] >= "2025-11-05 13:00") & (bars["ts"] < "2025-11-05 14:00")]
    row = hourly.iloc[0]
    assert row["ts"] == pd.Timestamp("2025-11-05 13:00", tz="UTC")
    assert (row["open"], row["close"]) == (first["open"].iloc[0], first["close"].iloc[-1])
    assert (row["high"], row["low"]) == (first["high"].max(), first["low"].min())
    assert row["volume_base"] == pytest.approx(first["volume_base"].sum())
    report = store.ingest({"ohlcv_hourly": hourly}, origin="recorded")
    assert report.inserted == 16


def test_binance_spot_1m_klines_and_the_forming_daily_bar(
    shared_fixtures: Path, store: Store
) -> None:
    rows = load(shared_fixtures, "binance/binance_spot_api_v3_klines_1m_unknown_symbol.json")
    bars, _ = kline_frame(
        rows,
        source="binance_spot",
        interval="1m",
        symbol="XYZ",
        venue="binance_spot",
        pair="XYZUSDT",
        now=NOW,
    )
    hourly, left_out = aggregate_bars(bars, "1h", "1m")
    # 09:07-12:26: only 10:00 and 11:00 are complete hours
    assert (len(hourly), left_out) == (2, 200 - 120)
    assert store.ingest({"ohlcv_hourly": hourly}, origin="recorded").inserted == 2
    daily = load(shared_fixtures, "binance/binance_spot_api_v1_klines_ETHUSDT_1d_limit1.json")
    recorded_at = pd.Timestamp("2021-12-17 13:24:50", tz="UTC")
    kept, forming = kline_frame(
        daily,
        source="binance_spot",
        interval="1d",
        symbol="ETH",
        venue="binance_spot",
        pair="ETHUSDT",
        now=recorded_at,
    )
    assert (len(kept), forming) == (0, 1)  # the bar was still open when recorded
    later, forming = kline_frame(
        daily,
        source="binance_spot",
        interval="1d",
        symbol="ETH",
        venue="binance_spot",
        pair="ETHUSDT",
        now=NOW,
    )
    assert (len(later), forming) == (1, 0)
    assert later["close"].iloc[0] == 3820.87
    assert store.ingest({"ohlcv_daily": later}, origin="recorded").inserted == 1


def test_5m_bars_answered_to_a_1h_request_are_schema_drift(shared_fixtures: Path) -> None:
    rows = load(shared_fixtures, "binance/binance_fapi_v1_klines_BTCUSDT_5m.json")
    with pytest.raises(
        PayloadError, match=r"expected bars of 3600000 ms .* received 'bars of \[300000\] ms'"
    ):
        kline_frame(
            rows, source="binance_usdm", interval="1h", symbol="BTC", venue="v", pair="p", now=NOW
        )
    with respx.mock as mock:
        mock.get("https://fapi.binance.com/fapi/v1/klines").mock(
            return_value=httpx.Response(200, json=rows)
        )
        connector = BinanceUsdm(HttpOptions(now=lambda: NOW))
        series = next(s for s in connector.series(["BTC"]) if s.name == "klines_1h:BTC")
        with pytest.raises(PayloadError, match="bars of"):
            list(connector.fetch(series, pd.Timestamp("2025-11-05", tz="UTC"), NOW))


def test_premium_index_is_predicted_funding(shared_fixtures: Path, store: Store) -> None:
    single = parse_premium_index(
        load(shared_fixtures, "binance/binance_fapi_v1_premiumIndex_BTCUSDT.json")
    )
    assert len(single) == 1
    row = single.iloc[0]
    assert row["ts"] == pd.Timestamp("2021-12-19 00:00", tz="UTC")  # nextFundingTime
    assert (row["symbol"], row["venue"], row["instrument"]) == (
        "BTC",
        "binance_predicted",
        "BTCUSDT-PERP",
    )
    assert row["funding_rate"] == 0.0001
    raw = load(shared_fixtures, "binance/binance_fapi_v1_premiumIndex_all.json")
    assert isinstance(raw, list)
    everything = parse_premium_index(raw)
    perps = [
        r
        for r in raw
        if r["symbol"].endswith("USDT") and "_" not in r["symbol"] and r["nextFundingTime"] > 0
    ]
    assert len(everything) == len(perps) > 100
    report = store.ingest({"funding_rates_8h": everything}, origin="recorded")
    assert report.inserted == len(perps)


def test_bybit_recorded_list_through_ccxt(shared_fixtures: Path, store: Store) -> None:
    ccxt = pytest.importorskip("ccxt")
    rows = load(shared_fixtures, "bybit/bybit_v5_market_kline_result_list_only_BTCUSDT_5m.json")
    assert isinstance(rows, list)
    parsed = ccxt.bybit().parse_ohlcvs(rows, None, "5m")
    assert parsed[0][0] < parsed[-1][0]  # ccxt sorts the newest-first list
    bars, _ = ohlcv_frame(
        parsed,
        source="bybit",
        timeframe="5m",
        symbol="BTC",
        venue="bybit_perp",
        pair="BTCUSDT-PERP",
        now=NOW,
    )
    assert len(bars) == 200
    assert bars["close"].iloc[-1] == 57952.7
    hourly, left_out = aggregate_bars(bars, "1h", "5m")
    assert len(hourly) * 12 + left_out == 200
    assert store.ingest({"ohlcv_hourly": hourly}, origin="recorded").inserted == len(hourly)
    with pytest.raises(PayloadError, match="grid"):
        ohlcv_frame(
            parsed, source="bybit", timeframe="1h", symbol="BTC", venue="v", pair="p", now=NOW
        )


@pytest.mark.parametrize(
    ("name", "series", "rows", "missing"),
    [
        ("fredgraph_DGS2_observation_date_header.csv", "DGS2", 194, 6),
        ("fredgraph_DGS2_legacy_DATE_header.csv", "DGS2", 192, 8),
        ("fredgraph_DFEDTARU_DFEDTARL_multi_series.csv", "DFEDTARU", 200, 0),
        ("fredgraph_DFEDTARU_DFEDTARL_multi_series.csv", "DFEDTARL", 200, 0),
    ],
)
def test_fredgraph_csv_in_both_header_formats(
    shared_fixtures: Path, store: Store, name: str, series: str, rows: int, missing: int
) -> None:
    text = (shared_fixtures / "fred" / name).read_text()
    parsed = parse_fredgraph_csv(text)
    frame, dropped = parsed[series]
    assert (len(frame), dropped) == (rows, missing)
    assert len(frame) + dropped == len(text.strip().splitlines()) - 1
    assert (frame["unit"] == "percent").all()
    report = store.ingest({"macro_rates_daily": frame}, origin="recorded")
    assert report.inserted == rows


def test_fredgraph_values_and_missing_markers(shared_fixtures: Path) -> None:
    legacy, _ = parse_fredgraph_csv(
        (shared_fixtures / "fred" / "fredgraph_DGS2_legacy_DATE_header.csv").read_text()
    )["DGS2"]
    assert legacy["value"].iloc[0] == 7.26
    assert legacy["ts"].iloc[0] == pd.Timestamp("1976-06-01", tz="UTC")
    current, _ = parse_fredgraph_csv(
        (shared_fixtures / "fred" / "fredgraph_DGS2_observation_date_header.csv").read_text()
    )["DGS2"]
    assert pd.Timestamp("2021-02-15", tz="UTC") not in set(current["ts"])  # empty field
    with pytest.raises(PayloadError, match="observation_date"):
        parse_fredgraph_csv("day,DGS2\n2021-01-01,1.0\n")


def test_fred_api_observations_and_the_dot_marker(shared_fixtures: Path, store: Store) -> None:
    fedfunds, dropped = parse_fred_observations(
        load(shared_fixtures, "fred/fred_api_series_observations_FEDFUNDS.json"), series="FEDFUNDS"
    )
    assert (len(fedfunds), dropped) == (200, 0)
    assert fedfunds["value"].iloc[0] == 0.80
    oil, dropped = parse_fred_observations(
        load(shared_fixtures, "fred/fred_api_series_observations_OILPRICE_freq_q_missing_dot.json"),
        series="OILPRICE",
    )
    assert (len(oil), dropped) == (199, 1)
    assert oil["ts"].max() == pd.Timestamp("2013-04-01", tz="UTC")
    assert oil["unit"].isna().all()  # unknown series: no unit is invented
    assert (
        store.ingest({"macro_rates_daily": pd.concat([fedfunds, oil])}, origin="recorded").inserted
        == 399
    )
    with pytest.raises(PayloadError, match="observations"):
        parse_fred_observations({"observation": []}, series="X")


def test_fred_api_error_body_is_a_clear_error(shared_fixtures: Path) -> None:
    body = (shared_fixtures / "fred" / "fred_api_error_400_bad_series_id.json").read_bytes()
    key = "feedfacefeedfacefeedfacefeedface"
    connector = FredApi(
        key,
        HttpOptions(retry=RetryPolicy(max_attempts=3), sleep=lambda _s: None),
        series=["bad_series_id"],
    )
    series = connector.series()[0]
    with respx.mock as mock:
        route = mock.get("https://api.stlouisfed.org/fred/series/observations").mock(
            return_value=httpx.Response(400, content=body)
        )
        with pytest.raises(
            RequestRejectedError,
            match=r"HTTP 400: Bad Request\.  Invalid value for variable series_id",
        ) as caught:
            list(connector.fetch(series, pd.Timestamp("2020-01-01", tz="UTC"), NOW))
    assert route.call_count == 1  # a 4xx is not retried
    assert caught.value.status == 400
    assert key not in str(caught.value)
    assert "(code 400)" in str(caught.value)


def test_defillama_list_snapshot_and_ids(shared_fixtures: Path, store: Store) -> None:
    payload = load(shared_fixtures, "defillama/defillama_stablecoins_list_includePrices.json")
    ids = stablecoin_ids(payload)
    assert (ids["USDT"], ids["USDC"]) == ("1", "2")
    day = pd.Timestamp("2024-12-07", tz="UTC")
    snapshot = parse_stablecoin_list(payload, day=day)
    assert len(snapshot) == 10
    usdt = snapshot.set_index("stablecoin").loc["USDT", "circulating_usd"]
    assert usdt == 127670074069.01582
    assert store.ingest({"stablecoin_supply_daily": snapshot}, origin="recorded").inserted == 10
    with pytest.raises(PayloadError, match="peggedAssets"):
        parse_stablecoin_list({"assets": []}, day=day)
