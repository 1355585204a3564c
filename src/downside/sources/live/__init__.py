"""Live connectors: fetch canonical raw tables from market-data APIs, page by page.

==================  ===============================================  =====================
source name         what                                              key
==================  ===============================================  =====================
``binance_usdm``    USD-M perp klines, funding, open interest,       none
                    premium index (predicted funding)
``binance_spot``    spot klines                                      none
``binance_archive`` data.binance.vision zips: klines, fundingRate,   none
                    metrics (open interest)
``bybit``, ``okx``  perps through ccxt: OHLCV, funding, open         none (needs the
                    interest                                          ``exchanges`` extra)
``fred``            FRED series: the API when ``FRED_API_KEY`` is    ``FRED_API_KEY``
                    set, else the keyless fredgraph CSV              (optional)
``farside``         US spot-ETF flows (HTML tables)                  none
``defillama``       stablecoin supply                                none
``coinglass``       aggregated liquidations and open interest        ``COINGLASS_API_KEY``
==================  ===============================================  =====================

``binance`` stands for ``binance_usdm`` and ``binance_spot``. API keys are read from the
environment only, passed to the connector, and redacted from every URL, log line and
error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from downside.errors import ConfigError
from downside.sources.live._archive import BinanceArchive
from downside.sources.live._bars import aggregate_bars, kline_frame
from downside.sources.live._base import Connector, Page, Series
from downside.sources.live._binance import BinanceSpot, BinanceUsdm
from downside.sources.live._ccxt import BybitPerp, CcxtPerp, OkxPerp
from downside.sources.live._coinglass import CoinGlass
from downside.sources.live._defillama import DefiLlamaStablecoins
from downside.sources.live._farside import Farside, FarsideCsv
from downside.sources.live._fred import FredApi, FredGraph
from downside.sources.live._http import HttpClient, HttpOptions, RetryPolicy

FRED_KEY_ENV = "FRED_API_KEY"
COINGLASS_KEY_ENV = "COINGLASS_API_KEY"
SOURCE_NAMES = (
    "binance_usdm",
    "binance_spot",
    "binance_archive",
    "bybit",
    "okx",
    "fred",
    "farside",
    "defillama",
    "coinglass",
)
ALIASES: dict[str, tuple[str, ...]] = {"binance": ("binance_usdm", "binance_spot")}
DEFAULT_SOURCES = ("binance_usdm", "binance_spot", "fred", "farside", "defillama")


def make_connectors(
    names: Sequence[str] | None = None,
    *,
    options: HttpOptions | None = None,
    environ: Mapping[str, str] | None = None,
    base_urls: Mapping[str, str] | None = None,
) -> list[Connector]:
    """Build connectors by source name, with keys from the environment.

    Args:
        names: source names or aliases (see the module docstring); ``None`` for the
            defaults (:data:`DEFAULT_SOURCES`, plus ``coinglass`` when its key is set).
        options: HTTP options shared by all connectors.
        environ: where keys are read (default ``os.environ``).
        base_urls: source name -> root URL replacing the provider's (tests, proxies).

    Returns:
        One connector per distinct source, in the order given.

    Raises:
        ConfigError: an unknown name, or ``coinglass`` without ``COINGLASS_API_KEY``.
    """
    env = os.environ if environ is None else environ
    urls = dict(base_urls or {})
    opts = options if options is not None else HttpOptions()
    if names is None:
        wanted = list(DEFAULT_SOURCES) + (["coinglass"] if env.get(COINGLASS_KEY_ENV) else [])
    else:
        wanted = []
        unknown = []
        for raw in names:
            name = raw.strip().lower()
            if not name:
                continue
            expanded = ALIASES.get(name, (name,))
            for item in expanded:
                if item not in SOURCE_NAMES:
                    unknown.append(raw)
                elif item not in wanted:
                    wanted.append(item)
        if unknown:
            raise ConfigError(
                f"unknown source(s) {unknown}: expected names from "
                f"{[*SOURCE_NAMES, *ALIASES]}; fix --sources"
            )
    out: list[Connector] = []
    for name in wanted:
        url = urls.get(name)
        if name == "binance_usdm":
            out.append(BinanceUsdm(opts, base_url=url))
        elif name == "binance_spot":
            out.append(BinanceSpot(opts, base_url=url))
        elif name == "binance_archive":
            out.append(BinanceArchive(opts, **({"base_url": url} if url else {})))
        elif name == "bybit":
            out.append(BybitPerp(opts, api_url=url))
        elif name == "okx":
            out.append(OkxPerp(opts, api_url=url))
        elif name == "fred":
            key = env.get(FRED_KEY_ENV)
            out.append(FredApi(key, opts, base_url=url) if key else FredGraph(opts, base_url=url))
        elif name == "farside":
            out.append(Farside(opts, **({"base_url": url} if url else {})))
        elif name == "defillama":
            out.append(DefiLlamaStablecoins(opts, **({"base_url": url} if url else {})))
        else:
            key = env.get(COINGLASS_KEY_ENV)
            if not key:
                raise ConfigError(
                    f"the coinglass source needs an API key: expected the environment "
                    f"variable {COINGLASS_KEY_ENV}, found none; set it or drop coinglass "
                    "from --sources"
                )
            out.append(CoinGlass(key, opts, **({"base_url": url} if url else {})))
    return out


__all__ = [
    "ALIASES",
    "COINGLASS_KEY_ENV",
    "DEFAULT_SOURCES",
    "FRED_KEY_ENV",
    "SOURCE_NAMES",
    "BinanceArchive",
    "BinanceSpot",
    "BinanceUsdm",
    "BybitPerp",
    "CcxtPerp",
    "CoinGlass",
    "Connector",
    "DefiLlamaStablecoins",
    "Farside",
    "FarsideCsv",
    "FredApi",
    "FredGraph",
    "HttpClient",
    "HttpOptions",
    "OkxPerp",
    "Page",
    "RetryPolicy",
    "Series",
    "aggregate_bars",
    "kline_frame",
    "make_connectors",
]
