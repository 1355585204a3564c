"""`update`: incremental, checkpointed and resumable; an interrupted update resumes to the
same store as an uninterrupted one, and writes no page twice."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import respx

from downside.errors import SourceError
from downside.sources.live import BinanceSpot, FredApi, HttpOptions, RetryPolicy
from downside.store import CHECKPOINT_NAME, Store, update

DOCUMENTED = Path(__file__).resolve().parents[1] / "fixtures" / "documented"
SPOT = "https://api.binance.com"
NOW = pd.Timestamp("2024-03-01", tz="UTC")
SINCE = pd.Timestamp("2024-01-01", tz="UTC")
UNTIL = pd.Timestamp("2024-02-10", tz="UTC")
PAGE = 10


def _klines(request: httpx.Request) -> httpx.Response:
    q = request.url.params
    rows = json.loads(
        (DOCUMENTED / f"binance_api_v3_klines_BTCUSDT_{q['interval']}.json").read_text()
    )
    lo, hi = int(q["startTime"]), int(q["endTime"])
    kept = [r for r in rows if lo <= r[0] <= hi][: int(q["limit"])]
    return httpx.Response(200, json=kept, headers={"X-MBX-USED-WEIGHT-1M": "12"})


class Transport:
    """Serves the documented klines; the connection breaks on data request ``fail_at`` (a
    reset while reading: retried, unlike a host that cannot be reached at all)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise httpx.ReadError("connection reset by peer (simulated)", request=request)
        return _klines(request)


def _connector() -> BinanceSpot:
    options = HttpOptions(retry=RetryPolicy(max_attempts=1), sleep=lambda _s: None, now=lambda: NOW)
    return BinanceSpot(options, intervals=("1d", "1h"), page_limit=PAGE)


def _run(store: Store, transport: Transport, **kwargs: Any) -> Any:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{SPOT}/api/v3/klines").mock(side_effect=transport)
        return update(
            store,
            [_connector()],
            symbols=["BTC"],
            since=SINCE,
            until=UNTIL,
            now=lambda: NOW,
            **kwargs,
        )


def _tables(store: Store) -> dict[str, pd.DataFrame]:
    return {table: store.read(table) for table in store.tables()}


def test_uninterrupted_update_fetches_every_page_once(store: Store) -> None:
    transport = Transport()
    report = _run(store, transport)
    assert report.ok
    daily, hourly = report.series
    assert daily.series == "binance_spot/klines_1d:BTC"
    assert (daily.pages, daily.inserted, daily.updated) == (4, 40, 0)
    assert (hourly.pages, hourly.inserted) == (5, 48)
    assert transport.calls == 9
    assert not (store.root / CHECKPOINT_NAME).exists()
    assert daily.last_event_ts == pd.Timestamp("2024-02-09", tz="UTC")


def test_second_update_starts_after_the_last_stored_bar(store: Store) -> None:
    _run(store, Transport())
    with respx.mock as mock:
        route = mock.get(f"{SPOT}/api/v3/klines").mock(side_effect=_klines)
        report = update(store, [_connector()], symbols=["BTC"], until=UNTIL, now=lambda: NOW)
    daily, hourly = report.series
    assert daily.status == "up_to_date"  # last bar 2024-02-09 + 1 day = until
    assert hourly.start == pd.Timestamp("2024-01-03", tz="UTC")  # after the last stored hour
    assert (hourly.status, hourly.inserted) == ("updated", 0)
    assert route.call_count == 1
    later = pd.Timestamp("2024-02-12", tz="UTC")
    with respx.mock as mock:
        route = mock.get(f"{SPOT}/api/v3/klines").mock(side_effect=_klines)
        report = update(store, [_connector()], symbols=["BTC"], until=later, now=lambda: NOW)
    first = route.calls[0].request.url.params
    assert int(first["startTime"]) == int(pd.Timestamp("2024-02-10", tz="UTC").value // 10**6)
    assert report.series[0].inserted == 0
    assert report.version_before == report.version_after


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Any]:
    """A store filled by an uninterrupted update, and its report."""
    store = Store(tmp_path_factory.mktemp("reference") / "store", lock_timeout_s=5)
    return store, _run(store, Transport())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_interrupted_update_resumes_to_the_same_store_without_writing_a_page_twice(
    tmp_path: Path, seed: int, reference: tuple[Store, Any]
) -> None:
    reference_store, uninterrupted = reference
    total_pages = uninterrupted.pages
    fail_at = random.Random(seed).randint(1, total_pages)

    store = Store(tmp_path / "store", lock_timeout_s=5)
    with pytest.raises(SourceError, match="connection failed"):
        _run(store, Transport(fail_at=fail_at), keep_going=False)
    committed = fail_at - 1  # one request per page; every page before the failure committed
    checkpoint = json.loads((store.root / CHECKPOINT_NAME).read_text())
    (entry,) = checkpoint["series"].values()
    assert len(entry["done"]) == (committed if fail_at <= 4 else committed - 4)
    partial = _tables(store) if not store.is_empty else {}

    resumed_transport = Transport()
    resumed = _run(store, resumed_transport)
    assert resumed.ok
    assert not (store.root / CHECKPOINT_NAME).exists()
    assert resumed.updated == 0
    assert resumed.pages == total_pages - committed
    assert resumed_transport.calls == total_pages - committed
    rows_before = sum(len(frame) for frame in partial.values())
    assert rows_before + resumed.inserted == uninterrupted.inserted
    assert any(s.resumed for s in resumed.series)
    final, expected = _tables(store), _tables(reference_store)
    assert final.keys() == expected.keys()
    for table in expected:
        pd.testing.assert_frame_equal(final[table], expected[table])


def test_a_failed_page_leaves_the_store_as_of_the_last_committed_page(store: Store) -> None:
    report = _run(store, Transport(fail_at=3))
    assert not report.ok
    assert list(report.errors) == ["binance_spot/klines_1d:BTC"]
    daily = report.series[0]
    assert (daily.status, daily.pages, daily.inserted) == ("failed", 2, 2 * PAGE)
    assert len(store.read("ohlcv_daily")) == 2 * PAGE
    assert report.series[1].status == "updated"  # keep_going: the next series still ran
    checkpoint = json.loads((store.root / CHECKPOINT_NAME).read_text())
    assert list(checkpoint["series"]) == ["binance_spot/klines_1d:BTC"]


def test_malformed_page_writes_nothing_of_it(store: Store) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        rows = json.loads(_klines(request).content)
        if int(request.url.params["startTime"]) > int(SINCE.value // 10**6):
            rows[1] = rows[1][:11]  # schema drift: a field went missing
        return httpx.Response(200, json=rows)

    with respx.mock as mock:
        mock.get(f"{SPOT}/api/v3/klines").mock(side_effect=broken)
        report = update(
            store, [_connector()], symbols=["BTC"], since=SINCE, until=UNTIL, now=lambda: NOW
        )
    assert "rows of 12 fields" in report.errors["binance_spot/klines_1d:BTC"]
    assert len(store.read("ohlcv_daily")) == PAGE


def test_api_key_stays_out_of_logs_errors_and_checkpoint(
    store: Store, caplog: pytest.LogCaptureFixture, shared_fixtures: Path
) -> None:
    key = "0123456789abcdef0123456789abcdef"
    path = shared_fixtures / "fred" / "fred_api_series_observations_FEDFUNDS.json"
    recorded = json.loads(path.read_text())
    calls = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        assert request.url.params["api_key"] == key
        if calls["n"] == 1:
            return httpx.Response(200, json={**recorded, "count": 400})
        return httpx.Response(503, text="Service Unavailable")

    options = HttpOptions(retry=RetryPolicy(max_attempts=2), sleep=lambda _s: None, now=lambda: NOW)
    connector = FredApi(key, options, series=["FEDFUNDS"])
    caplog.set_level(logging.DEBUG)
    with respx.mock as mock:
        mock.get("https://api.stlouisfed.org/fred/series/observations").mock(side_effect=answer)
        report = update(
            store,
            [connector],
            since=pd.Timestamp("1954-07-01", tz="UTC"),
            until=pd.Timestamp("1990-01-01", tz="UTC"),
            now=lambda: NOW,
        )
    assert not report.ok
    message = report.errors["fred_api/FEDFUNDS"]
    assert "HTTP 503" in message
    assert "api_key=***" in message
    assert key not in message
    assert key not in caplog.text
    assert "api_key=***" in caplog.text
    assert key not in (store.root / CHECKPOINT_NAME).read_text()
    assert key not in repr(connector)
    assert len(store.read("macro_rates_daily")) == 200
