"""One contract suite run against every live connector (like optuna's pytest_storages).

Each case builds a connector pointed at the local fixture server (127.0.0.1) and names one
series and range. Every case must: yield pages that chain (cursor / next_start), hold only
canonical tables with rows in range, ingest into a real store, fetch the same pages twice,
resume from any page to the same pages, and turn each failure of the source (malformed
body, empty body, HTTP 500, HTTP 429, timeout) into the matching error.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from downside.errors import (
    PayloadError,
    RateLimitedError,
    RequestRejectedError,
    SourceError,
    SourceTimeoutError,
)
from downside.sources import TABLES
from downside.sources.live import (
    BinanceArchive,
    BinanceSpot,
    BinanceUsdm,
    BybitPerp,
    CoinGlass,
    Connector,
    DefiLlamaStablecoins,
    Farside,
    FarsideCsv,
    FredApi,
    FredGraph,
    HttpOptions,
    OkxPerp,
    Page,
    RetryPolicy,
)
from downside.store import Store

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "documented"
FixtureServer = Any  # the conftest's local server (conftest modules cannot be imported)
Make = Callable[[FixtureServer, HttpOptions], Connector]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@dataclass(frozen=True)
class Case:
    """One connector, one series, one range, and the rows expected from the fixtures."""

    id: str
    make: Make
    series: str
    start: pd.Timestamp
    end: pd.Timestamp
    rows: int
    now: pd.Timestamp | None = None
    http: bool = True


def _usdm(server: FixtureServer, options: HttpOptions) -> Connector:
    connector = BinanceUsdm(options, base_url=server.base("binance_usdm"), page_limit=15)
    connector.funding_limit = 12
    connector.open_interest_limit = 8
    return connector


def _bybit(server: FixtureServer, options: HttpOptions) -> Connector:
    pytest.importorskip("ccxt", reason="the exchanges extra (ccxt) is not installed")
    connector = BybitPerp(options, api_url=server.base("bybit"), intervals=("1d",), page_limit=12)
    connector.exchange.rateLimit = 1  # ccxt's own throttle; the fixture server needs none
    return connector


def _okx(server: FixtureServer, options: HttpOptions) -> Connector:
    pytest.importorskip("ccxt", reason="the exchanges extra (ccxt) is not installed")
    connector = OkxPerp(options, api_url=server.base("okx"), intervals=("1d",), page_limit=12)
    connector.exchange.rateLimit = 1  # ccxt's own throttle; the fixture server needs none
    return connector


def _archive(server: FixtureServer, options: HttpOptions) -> Connector:
    return BinanceArchive(options, base_url=server.base("binance_archive"))


CASES = [
    Case("usdm-klines-1d", _usdm, "klines_1d:BTC", ts("2024-01-01"), ts("2024-02-10"), 40),
    Case("usdm-klines-1h", _usdm, "klines_1h:BTC", ts("2024-01-01"), ts("2024-01-03"), 48),
    Case("usdm-funding", _usdm, "funding:BTC", ts("2024-01-01"), ts("2024-01-11"), 30),
    Case(
        "usdm-open-interest",
        _usdm,
        "open_interest_1d:BTC",
        ts("2024-01-01"),
        ts("2024-01-25"),
        24,
        now=ts("2024-01-26 10:00"),
    ),
    Case("usdm-premium-index", _usdm, "premium_index:BTC", ts("2021-12-18"), ts("2021-12-19"), 1),
    Case(
        "spot-klines-1d",
        lambda s, o: BinanceSpot(o, base_url=s.base("binance_spot"), page_limit=25),
        "klines_1d:BTC",
        ts("2024-01-05"),
        ts("2024-02-10"),
        36,
    ),
    Case(
        "archive-um-klines-1d",
        _archive,
        "um_klines_1d:BTC",
        ts("2024-01-01"),
        ts("2024-02-02"),
        32,
        now=ts("2024-02-10"),
    ),
    Case(
        "archive-spot-klines-1h-microseconds",
        _archive,
        "spot_klines_1h:BTC",
        ts("2025-01-01"),
        ts("2025-01-02"),
        24,
        now=ts("2025-01-15"),
    ),
    Case(
        "archive-funding",
        _archive,
        "funding:BTC",
        ts("2024-01-01"),
        ts("2024-02-01"),
        93,
        now=ts("2024-02-10"),
    ),
    Case(
        "archive-metrics",
        _archive,
        "metrics:BTC",
        ts("2024-02-01"),
        ts("2024-02-03"),
        2,
        now=ts("2024-02-10"),
    ),
    Case("bybit-ohlcv-1d", _bybit, "ohlcv_1d:BTC", ts("2024-01-01"), ts("2024-02-10"), 40),
    Case("bybit-funding", _bybit, "funding:BTC", ts("2024-01-01"), ts("2024-01-11"), 30),
    Case(
        "bybit-open-interest",
        _bybit,
        "open_interest_1d:BTC",
        ts("2024-01-01"),
        ts("2024-01-26"),
        25,
    ),
    Case("okx-ohlcv-1d", _okx, "ohlcv_1d:BTC", ts("2024-01-01"), ts("2024-02-10"), 40),
    Case("okx-funding", _okx, "funding:BTC", ts("2024-01-01"), ts("2024-01-11"), 30),
    Case("okx-open-interest", _okx, "open_interest_1d:BTC", ts("2024-01-01"), ts("2024-01-26"), 25),
    Case(
        "fredgraph-DGS2",
        lambda s, o: FredGraph(o, series=["DGS2"], base_url=s.base("fred")),
        "DGS2",
        ts("2021-02-12"),
        ts("2021-12-01"),
        194,
    ),
    Case(
        "fred-api-FEDFUNDS",
        lambda s, o: FredApi(s.fred_key, o, series=["FEDFUNDS"], base_url=s.base("fred_api")),
        "FEDFUNDS",
        ts("1954-07-01"),
        ts("1971-03-01"),
        200,
    ),
    Case(
        "farside-html",
        lambda s, o: Farside(o, base_url=s.base("farside")),
        "etf_flows:BTC",
        ts("2024-01-01"),
        ts("2024-02-01"),
        69,
    ),
    Case(
        "farside-csv",
        lambda s, o: FarsideCsv({"BTC": DOCUMENTED / "farside_btc_etf_flows_export.csv"}, o),
        "etf_flows:BTC",
        ts("2024-01-01"),
        ts("2024-02-01"),
        69,
        http=False,
    ),
    Case(
        "defillama-USDT",
        lambda s, o: DefiLlamaStablecoins(o, base_url=s.base("defillama")),
        "supply:USDT",
        ts("2024-01-01"),
        ts("2024-02-01"),
        30,
    ),
    Case(
        "defillama-TOTAL",
        lambda s, o: DefiLlamaStablecoins(o, base_url=s.base("defillama")),
        "supply:TOTAL",
        ts("2024-01-10"),
        ts("2024-02-01"),
        21,
    ),
    Case(
        "coinglass-liquidations",
        lambda s, o: CoinGlass(s.coinglass_key, o, base_url=s.base("coinglass")),
        "liquidations:BTC",
        ts("2024-01-01"),
        ts("2024-01-21"),
        20,
    ),
    Case(
        "coinglass-open-interest",
        lambda s, o: CoinGlass(s.coinglass_key, o, base_url=s.base("coinglass")),
        "open_interest:BTC",
        ts("2024-01-01"),
        ts("2024-01-21"),
        20,
    ),
]


def _first_per_connector(cases: list[Case]) -> list[Case]:
    """The first HTTP case of each connector (id prefix): a connector's series share its
    one HTTP path, so failures are exercised once per connector."""
    out: dict[str, Case] = {}
    for case in cases:
        prefix = (
            "-".join(case.id.split("-")[:2])
            if case.id.startswith("fred")
            else case.id.split("-")[0]
        )
        if case.http:
            out.setdefault(prefix, case)
    return list(out.values())


FAILURE_CASES = _first_per_connector(CASES)


def _build(case: Case, server: FixtureServer, options: HttpOptions) -> tuple[Connector, object]:
    if case.now is not None:
        now = case.now
        options = dataclasses.replace(options, now=lambda: now)
    connector = case.make(server, options)
    series = next((s for s in connector.series(["BTC"]) if s.name == case.series), None)
    assert series is not None, [s.name for s in connector.series(["BTC"])]
    return connector, series


def _pages(
    connector: Connector, series: object, start: pd.Timestamp, end: pd.Timestamp
) -> list[Page]:
    return list(connector.fetch(series, start, end))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_series_are_well_formed(case: Case, server: FixtureServer, options: HttpOptions) -> None:
    connector, _ = _build(case, server, options)
    all_series = connector.series(["BTC"])
    assert len({s.id for s in all_series}) == len(all_series)
    for series in all_series:
        assert series.connector == connector.name
        assert series.table in connector.tables
        assert set(series.keys) <= set(TABLES[series.table].keys)
        assert series.step > pd.Timedelta(0)
        assert series.start.tzinfo is not None


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_pages_chain_hold_canonical_rows_and_ingest(
    case: Case, server: FixtureServer, options: HttpOptions, tmp_path: Path
) -> None:
    connector, series = _build(case, server, options)
    pages = _pages(connector, series, case.start, case.end)
    assert pages, "expected at least one page"
    assert pages[0].cursor == case.start
    for before, after in itertools.pairwise(pages):
        assert before.next_start == after.cursor
    assert pages[-1].next_start is None
    rows = 0
    store = Store(tmp_path / "store", lock_timeout_s=5)
    for page in pages:
        assert page.series == series.id
        for table, frame in page.tables.items():
            assert table in connector.tables
            assert list(frame.columns) == list(TABLES[table].all_columns)
            assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
            if not series.snapshot:
                assert ((frame["ts"] >= case.start) & (frame["ts"] < case.end)).all()
            for key, value in series.keys.items():
                assert (frame[key] == value).all(), key
            rows += len(frame)
        if page.rows:
            report = store.ingest(page.tables, origin=page.series)
            assert report.updated == 0
    assert rows == case.rows
    stored = store.read(series.table)
    assert len(stored) == case.rows


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_fetching_twice_and_resuming_give_the_same_pages(
    case: Case, server: FixtureServer, options: HttpOptions
) -> None:
    connector, series = _build(case, server, options)
    first = _pages(connector, series, case.start, case.end)
    second = _pages(connector, series, case.start, case.end)
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert (a.cursor, a.next_start) == (b.cursor, b.next_start)
        for table in a.tables:
            pd.testing.assert_frame_equal(a.tables[table], b.tables[table])
    for k, page in enumerate(first[:-1]):
        assert page.next_start is not None
        resumed = _pages(connector, series, page.next_start, case.end)
        expected = first[k + 1 :]
        assert [p.cursor for p in resumed] == [p.cursor for p in expected]
        for a, b in zip(resumed, expected, strict=True):
            for table in a.tables:
                pd.testing.assert_frame_equal(a.tables[table], b.tables[table])


FAILURES = {
    "malformed": PayloadError,
    "empty": PayloadError,
    "500": SourceError,
    "429": RateLimitedError,
    "timeout": SourceTimeoutError,
}


@pytest.mark.parametrize("mode", list(FAILURES))
@pytest.mark.parametrize("case", FAILURE_CASES, ids=lambda c: c.id)
def test_source_failures_raise_the_matching_error(
    case: Case, mode: str, server: FixtureServer, options: HttpOptions, sleeps: Any
) -> None:
    options = dataclasses.replace(options, timeout_s=0.1, retry=RetryPolicy(max_attempts=2))
    server.timeout_sleep_s = 0.3
    connector, series = _build(case, server, options)
    server.mode = mode
    with pytest.raises(FAILURES[mode]) as caught:
        _pages(connector, series, case.start, case.end)
    error = caught.value
    if mode == "500":
        assert not isinstance(error, RateLimitedError | SourceTimeoutError | PayloadError)
        assert not isinstance(error, RequestRejectedError)
    if mode in ("500", "429", "timeout"):
        assert error.attempts == options.retry.max_attempts
        assert len(sleeps.calls) == options.retry.max_attempts - 1
    assert error.source == connector.name
    message = str(error)
    assert "expected" in message
    if mode == "429" and not isinstance(connector, BybitPerp | OkxPerp):
        assert sleeps.calls == [1.0]
        assert error.retry_after_s == 1.0
