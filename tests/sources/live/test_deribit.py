"""The Deribit DVOL connector: the documented payload, continuations, the running day, errors
and drift (the shared contract suite runs it too, in test_contract.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import respx

from downside.errors import PayloadError, RequestRejectedError
from downside.sources.live import DeribitVolatility, HttpOptions
from downside.sources.live._deribit import parse_volatility_index
from downside.store import Store

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "documented"
PAYLOAD = DOCUMENTED / "deribit_public_get_volatility_index_data_BTC_1D.json"
URL = "https://www.deribit.com/api/v2/public/get_volatility_index_data"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def payload() -> Any:
    return json.loads(PAYLOAD.read_text())


def test_documented_payload_gives_daily_closes_in_percent() -> None:
    body = payload()
    frame, continuation = parse_volatility_index(body, symbol="BTC")
    assert continuation is None
    candles = body["result"]["data"]
    assert len(frame) == len(candles) == 82
    assert list(frame.columns) == [
        "ts",
        "symbol",
        "venue",
        "index",
        "iv_annualized_pct",
        "source",
    ]
    assert frame["ts"].iloc[0] == ts("2023-12-20")
    assert (frame["ts"] == frame["ts"].dt.normalize()).all()
    assert frame["iv_annualized_pct"].tolist() == [row[4] for row in candles]
    assert set(frame["venue"]) == {"deribit"}
    assert set(frame["index"]) == {"DVOL"}


def test_pages_follow_continuations_ingest_and_become_known_the_next_day(
    server: Any, options: HttpOptions, tmp_path: Path
) -> None:
    connector = DeribitVolatility(options, base_url=server.base("deribit"), page_days=40)
    series = connector.series(["BTC"])[0]
    pages = list(connector.fetch(series, ts("2024-01-01"), ts("2024-02-15")))
    connector.close()
    assert [p.cursor for p in pages] == [ts("2024-01-01"), ts("2024-02-10")]
    frame = pd.concat([p.tables["implied_vol_daily"] for p in pages], ignore_index=True)
    # 45 days served 10 at a time: the pages followed four continuations without a gap
    assert frame["ts"].tolist() == list(pd.date_range("2024-01-01", periods=45, tz="UTC"))
    store = Store(tmp_path / "store", lock_timeout_s=5)
    for page in pages:
        store.ingest(page.tables, origin=page.series)
    stored = store.read("implied_vol_daily")
    assert (stored["available_ts"] == stored["event_ts"] + pd.Timedelta(days=1)).all()


def test_the_running_day_is_left_out(server: Any, options: HttpOptions) -> None:
    now = ts("2024-02-10 10:00")
    options = dataclasses.replace(options, now=lambda: now)
    connector = DeribitVolatility(options, base_url=server.base("deribit"))
    series = connector.series(["BTC"])[0]
    pages = list(connector.fetch(series, ts("2024-02-01"), ts("2024-03-01")))
    frame = pages[-1].tables["implied_vol_daily"]
    assert frame["ts"].max() == ts("2024-02-09")
    assert len(frame) == 9


def test_series_exist_for_btc_and_eth_only() -> None:
    connector = DeribitVolatility()
    assert [s.name for s in connector.series()] == ["dvol:BTC", "dvol:ETH"]
    assert [s.name for s in connector.series(["SOL", "btcusdt"])] == ["dvol:BTC"]
    series = connector.series(["ETH"])[0]
    assert dict(series.keys) == {"symbol": "ETH", "venue": "deribit", "index": "DVOL"}
    assert series.start == ts("2021-03-24")


def test_json_rpc_errors_are_rejections(server: Any, options: HttpOptions) -> None:
    with pytest.raises(RequestRejectedError, match=r"error -32000: bad things \(too many\)"):
        parse_volatility_index(
            {
                "jsonrpc": "2.0",
                "error": {"code": -32000, "message": "bad things", "data": "too many"},
            },
            symbol="BTC",
        )
    connector = DeribitVolatility(options, base_url=server.base("deribit"))
    eth = connector.series(["ETH"])[0]
    with pytest.raises(RequestRejectedError, match=r"HTTP 400: Invalid params \(code -32602\)"):
        list(connector.fetch(eth, ts("2024-01-01"), ts("2024-01-10")))


@pytest.mark.parametrize(
    ("result", "match"),
    [
        ({"data": [[1704067200000, 0.21, 0.22, 0.2, 0.21]], "continuation": None}, "in percent"),
        ({"data": [[1704096000000, 55.0, 56.0, 54.0, 55.5]], "continuation": None}, "00:00 UTC"),
        ({"data": [[1704067200000, 55.0, 56.0]], "continuation": None}, "timestamp_ms"),
        ({"data": [[1704067200000, 55.0, 56.0, 54.0, None]], "continuation": None}, "in percent"),
        ({"data": [], "continuation": "soon"}, "a timestamp in ms or null"),
        ({"candles": []}, "continuation"),
    ],
)
def test_drift_is_a_payload_error(result: dict[str, Any], match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        parse_volatility_index({"jsonrpc": "2.0", "id": 1, "result": result}, symbol="BTC")


def test_a_continuation_that_does_not_move_back_is_drift() -> None:
    options = HttpOptions(sleep=lambda _s: None, now=lambda: ts("2024-03-01"))
    connector = DeribitVolatility(options)
    series = connector.series(["BTC"])[0]
    stuck = {
        "jsonrpc": "2.0",
        "result": {
            "data": [[1704153600000, 55.0, 56.0, 54.0, 55.5]],
            "continuation": 1704240000000,
        },
    }
    with respx.mock as mock:
        route = mock.get(URL).mock(return_value=httpx.Response(200, json=stuck))
        with pytest.raises(PayloadError, match="at or before its earliest candle"):
            list(connector.fetch(series, ts("2024-01-01"), ts("2024-01-10")))
    assert route.call_count == 1
    params = route.calls[0].request.url.params
    assert dict(params) == {
        "currency": "BTC",
        "start_timestamp": "1704067200000",
        "end_timestamp": "1704844799999",
        "resolution": "1D",
    }
