"""HttpClient: Retry-After, Binance weight pauses, backoff, redaction, unreachable hosts
failing fast; plus connector edge cases (archive fallback and checksum, Farside drift,
CoinGlass key, the connector table)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pandas as pd
import pytest
import respx

from downside.config import Secret, Settings
from downside.errors import (
    ConfigError,
    PayloadError,
    RateLimitedError,
    RequestRejectedError,
    SourceUnreachableError,
)
from downside.sources.live import (
    CONNECTORS,
    SOURCE_NAMES,
    BinanceArchive,
    BinanceUsdm,
    CoinGlass,
    FredGraph,
    HttpClient,
    HttpConnector,
    HttpOptions,
    RetryPolicy,
    make_connectors,
)
from downside.sources.live._farside import parse_farside_html

NOW = pd.Timestamp("2024-03-01 12:00:30", tz="UTC")


def _client(sleeps: list[float], **kwargs: Any) -> HttpClient:
    options = HttpOptions(
        retry=RetryPolicy(max_attempts=3, backoff_s=2.0, jitter=0.0),
        sleep=sleeps.append,
        now=lambda: NOW,
    )
    return HttpClient("test", "https://api.example.test", options, **kwargs)


def test_retry_after_seconds_and_http_date_are_honoured() -> None:
    sleeps: list[float] = []
    client = _client(sleeps)
    date = "Fri, 01 Mar 2024 12:00:45 GMT"  # 15 s after NOW
    with respx.mock as mock:
        mock.get("https://api.example.test/x").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "3"}),
                httpx.Response(429, headers={"Retry-After": date}),
                httpx.Response(200, json={"ok": True}),
            ]
        )
        assert client.get_json("/x") == {"ok": True}
    assert sleeps == [3.0, 15.0]


def test_too_long_retry_after_fails_at_once() -> None:
    sleeps: list[float] = []
    client = _client(sleeps)
    with respx.mock as mock:
        route = mock.get("https://api.example.test/x").mock(
            return_value=httpx.Response(
                418,
                headers={"Retry-After": "7200"},
                json={"code": -1003, "msg": "banned until later"},
            )
        )
        with pytest.raises(RateLimitedError, match=r"asking to wait 7200 s") as caught:
            client.get("/x")
    assert route.call_count == 1
    assert sleeps == []
    assert caught.value.retry_after_s == 7200.0
    assert caught.value.status == 418


def test_5xx_backs_off_exponentially_then_succeeds() -> None:
    sleeps: list[float] = []
    client = _client(sleeps)
    with respx.mock as mock:
        mock.get("https://api.example.test/x").mock(
            side_effect=[httpx.Response(502), httpx.Response(503), httpx.Response(200, text="fine")]
        )
        response = client.get("/x")
    assert response is not None
    assert response.text == "fine"
    assert sleeps == [2.0, 4.0]


def test_binance_weight_header_pauses_until_the_next_minute() -> None:
    sleeps: list[float] = []
    client = _client(sleeps, weight_header="x-mbx-used-weight-1m", weight_limit_1m=2400)
    with respx.mock as mock:
        mock.get("https://api.example.test/x").mock(
            side_effect=[
                httpx.Response(200, json=[], headers={"X-MBX-USED-WEIGHT-1M": "100"}),
                httpx.Response(200, json=[], headers={"X-MBX-USED-WEIGHT-1M": "2200"}),
            ]
        )
        client.get_json("/x")
        assert sleeps == []
        client.get_json("/x")
    assert sleeps == [31.0]  # 12:00:30 -> 12:01:00, plus a second


def test_binance_error_body_is_quoted_and_4xx_not_retried() -> None:
    connector = BinanceUsdm(HttpOptions(sleep=lambda _s: None, now=lambda: NOW))
    series = connector.series(["BTC"])[0]
    with respx.mock as mock:
        route = mock.get("https://fapi.binance.com/fapi/v1/klines").mock(
            return_value=httpx.Response(400, json={"code": -1121, "msg": "Invalid symbol."})
        )
        with pytest.raises(RequestRejectedError, match=r"Invalid symbol\. \(code -1121\)"):
            list(connector.fetch(series, pd.Timestamp("2024-01-01", tz="UTC"), NOW))
    assert route.call_count == 1


def test_archive_falls_back_to_daily_files_and_checks_checksums() -> None:
    base = "https://data.binance.vision"
    options = HttpOptions(sleep=lambda _s: None, now=lambda: pd.Timestamp("2024-02-10", tz="UTC"))
    connector = BinanceArchive(options)
    series = next(s for s in connector.series(["BTC"]) if s.name == "um_klines_1d:BTC")
    import io
    import zipfile

    def zipped(rows: str, name: str) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr(name, rows)
        return buf.getvalue()

    day = (
        "1706745600000,42500.0,43000.0,42000.0,42800.0,100.0,1706831999999,"
        "4270000.0,100,50.0,2135000.0,0\n"
    )
    blob = zipped(day, "BTCUSDT-1d-2024-02-01.csv")
    monthly = f"{base}/data/futures/um/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2024-01.zip"
    daily = f"{base}/data/futures/um/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2024-01-31.zip"
    with respx.mock as mock:
        mock.get(monthly).mock(return_value=httpx.Response(404))
        mock.get(daily).mock(return_value=httpx.Response(200, content=blob))
        mock.get(daily + ".CHECKSUM").mock(
            return_value=httpx.Response(200, text="0" * 64 + "  x.zip")
        )
        pages = connector.fetch(
            series, pd.Timestamp("2024-01-31", tz="UTC"), pd.Timestamp("2024-02-01", tz="UTC")
        )
        with pytest.raises(PayloadError, match="failed its checksum"):
            list(pages)
        mock.get(daily + ".CHECKSUM").mock(
            return_value=httpx.Response(200, text=hashlib.sha256(blob).hexdigest() + "  x.zip")
        )
        pages_ok = list(
            connector.fetch(
                series, pd.Timestamp("2024-01-31", tz="UTC"), pd.Timestamp("2024-02-01", tz="UTC")
            )
        )
    # the served daily file holds 2024-02-01, outside [01-31, 02-01): left out and counted
    assert [p.dropped for p in pages_ok] == [1]


def _table(header: str, row: str) -> str:
    return f"<table><tr><th></th>{header}</tr><tr><td>11 Jan 2024</td>{row}</tr></table>"


def test_farside_without_total_column_is_drift() -> None:
    html = _table("<th>IBIT</th><th>FBTC</th>", "<td>1.0</td><td>2.0</td>")
    with pytest.raises(PayloadError, match="no ETF flow table"):
        parse_farside_html(html, asset="BTC")
    bad_cell = _table("<th>IBIT</th><th>Total</th>", "<td>n.a.x</td><td>2.0</td>")
    with pytest.raises(PayloadError, match="a number, \\(outflow\\) or -"):
        parse_farside_html(bad_cell, asset="BTC")
    frame, left_out = parse_farside_html(
        _table("<th>IBIT</th><th>Total</th>", "<td>(1,234.5)</td><td>-</td>"),
        asset="BTC",
    )
    assert frame["net_flow_usd_m"].tolist() == [-1234.5]
    assert left_out == 1


def test_coinglass_error_code_is_rejected_without_showing_the_key() -> None:
    key = "cafebabecafebabecafebabe"
    connector = CoinGlass(key, HttpOptions(sleep=lambda _s: None, now=lambda: NOW))
    series = connector.series(["BTC"])[0]
    with respx.mock as mock:
        route = mock.get(
            "https://open-api-v4.coinglass.com/api/futures/liquidation/aggregated-history"
        ).mock(return_value=httpx.Response(200, json={"code": "401", "msg": "API key missing"}))
        with pytest.raises(RequestRejectedError, match="code '401': API key missing") as caught:
            list(connector.fetch(series, pd.Timestamp("2024-01-01", tz="UTC"), NOW))
    assert route.calls[0].request.headers["CG-API-KEY"] == key
    assert key not in str(caught.value)
    assert key not in repr(connector)


def test_make_connectors_takes_keys_from_settings_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRED_API_KEY", "from-the-environment")
    monkeypatch.setenv("COINGLASS_API_KEY", "from-the-environment")
    none = Settings()
    names = [c.name for c in make_connectors(None, settings=none)]
    assert names == ["binance_usdm", "binance_spot", "fred", "farside", "defillama", "deribit"]
    assert isinstance(make_connectors(["fred"], settings=none)[0], FredGraph)
    keys = Settings(fred_api_key=Secret("k1"), coinglass_api_key=Secret("k2"))
    keyed = make_connectors(["fred", "coinglass"], settings=keys)
    assert [c.name for c in keyed] == ["fred_api", "coinglass"]
    assert [c.name for c in make_connectors(None, settings=keys)][-1] == "coinglass"
    assert [c.name for c in make_connectors(["binance"], settings=none)] == [
        "binance_usdm",
        "binance_spot",
    ]
    with pytest.raises(ConfigError, match="coinglass_api_key") as missing:
        make_connectors(["coinglass"], settings=none)
    with pytest.raises(ConfigError, match=r"unknown source\(s\) \['kraken'\]") as unknown:
        make_connectors(["kraken"], settings=none)
    for caught in (missing, unknown):
        assert "--" not in str(caught.value), "library errors name no CLI flag"
        assert "the source names" in str(caught.value)


def test_make_connectors_builds_every_source_from_its_table_entry() -> None:
    keys = Settings(coinglass_api_key=Secret("k"))
    urls = {name: f"http://127.0.0.1:9/{name}" for name in CONNECTORS}
    connectors = make_connectors(list(CONNECTORS), settings=keys, base_urls=urls)
    assert [c.name for c in connectors] == [
        "binance_usdm",
        "binance_spot",
        "binance_archive",
        "bybit",
        "okx",
        "fred",
        "farside",
        "defillama",
        "coinglass",
        "deribit",
    ]
    assert list(SOURCE_NAMES) == list(CONNECTORS)
    for connector in connectors:
        if isinstance(connector, HttpConnector):
            assert connector.url == urls[connector.name]
            assert connector._http is None, "nothing is created before the first request"
            assert connector.http is connector.http
            connector.close()
            assert connector._http is None


def test_long_short_ratios_have_their_own_frame(server: Any, options: HttpOptions) -> None:
    connector = BinanceUsdm(options, base_url=server.base("binance_usdm"))
    start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-11", tz="UTC")
    accounts = connector.fetch_ratios("BTC", "global_account", start, end)
    assert len(accounts) == 10
    assert (accounts["long_share"] + accounts["short_share"]).round(4).eq(1.0).all()
    taker = connector.fetch_ratios("BTC", "taker_volume", start, end)
    assert (taker["ratio"] - taker["long_share"] / taker["short_share"]).abs().max() < 1e-3
    connector.close()


# ------------------------------------------------------------------ offline: fail fast


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_fails_at_once_without_retries() -> None:
    sleeps: list[float] = []
    options = HttpOptions(retry=RetryPolicy(max_attempts=5), sleep=sleeps.append, now=lambda: NOW)
    url = f"http://127.0.0.1:{_closed_port()}"
    client = HttpClient("test", url, options)
    with pytest.raises(SourceUnreachableError, match=r"connection failed: cannot connect") as one:
        client.get("/x")
    assert (client.requests, sleeps) == (1, [])
    assert one.value.attempts == 1
    assert one.value.host == url.removeprefix("http://")
    assert isinstance(one.value, ConnectionError)
    other = HttpClient("other", url, options)  # same options: same run
    with pytest.raises(SourceUnreachableError, match="earlier in this run") as two:
        other.get("/y")
    assert other.requests == 0
    assert two.value.attempts == 0
    assert url.removeprefix("http://") in options.unreachable
    fresh = HttpClient("fresh", url, HttpOptions(sleep=sleeps.append))
    with pytest.raises(SourceUnreachableError):
        fresh.get("/y")
    assert fresh.requests == 1  # new options: the host is tried again


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno -2] Name or service not known"),
        httpx.ConnectTimeout("timed out while connecting"),
    ],
)
def test_name_resolution_and_connect_timeouts_count_as_unreachable(failure: Exception) -> None:
    sleeps: list[float] = []
    client = _client(sleeps)
    with respx.mock as mock:
        route = mock.get("https://api.example.test/x").mock(side_effect=failure)
        with pytest.raises(SourceUnreachableError, match=type(failure).__name__):
            client.get("/x")
        with pytest.raises(SourceUnreachableError, match="earlier in this run"):
            client.get("/other")
    assert route.call_count == 1
    assert sleeps == []


def test_a_broken_connection_is_still_retried() -> None:
    sleeps: list[float] = []
    client = _client(sleeps)
    with respx.mock as mock:
        mock.get("https://api.example.test/x").mock(
            side_effect=[httpx.ReadError("connection reset by peer"), httpx.Response(200)]
        )
        response = client.get("/x")
    assert response is not None
    assert response.status_code == 200
    assert sleeps == [2.0]
    assert len(client.options.unreachable) == 0


def test_the_connect_timeout_is_capped() -> None:
    options = HttpOptions(timeout_s=30.0, connect_timeout_s=4.0)
    client = HttpClient("test", "https://api.example.test", options)
    assert client._client.timeout.connect == 4.0
    assert client._client.timeout.read == 30.0
    client.close()
