"""The connector contract suite of :mod:`downside.testing.connectors`, run against every
live connector of the package.

Each case builds a connector pointed at the local fixture server (127.0.0.1, see the
conftest) and names one series and range; the suite checks that pages chain, hold
canonical rows in range, ingest into a real store, come out the same twice and on resume,
and that each failure of the source raises the matching error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from downside.sources.live import (
    BinanceArchive,
    BinanceSpot,
    BinanceUsdm,
    BybitPerp,
    CoinGlass,
    Connector,
    DefiLlamaStablecoins,
    DeribitVolatility,
    Farside,
    FarsideCsv,
    FredApi,
    FredGraph,
    HttpOptions,
    OkxPerp,
)
from downside.testing import ConnectorCase as Case
from downside.testing import ConnectorContract

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "documented"
FixtureServer = Any  # the conftest's local server (conftest modules cannot be imported)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


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
    Case(
        "deribit-dvol",
        lambda s, o: DeribitVolatility(o, base_url=s.base("deribit"), page_days=15),
        "dvol:BTC",
        ts("2024-01-01"),
        ts("2024-02-15"),
        45,
    ),
]


class TestConnectorContract(ConnectorContract):
    """Every case above through the shared suite; ``server`` is the conftest's fixture."""

    cases = CASES
