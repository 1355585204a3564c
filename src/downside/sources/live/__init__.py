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
``deribit``         DVOL implied-volatility index (BTC, ETH)         none
==================  ===============================================  =====================

``binance`` stands for ``binance_usdm`` and ``binance_spot``. API keys come from
:class:`downside.config.Settings` (``fred_api_key``, ``coinglass_api_key``, filled from
``FRED_API_KEY`` and ``COINGLASS_API_KEY`` by :func:`downside.config.load_settings`),
are passed to the connector, and are redacted from every URL, log line and error message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from downside.config import Settings, load_settings
from downside.errors import ConfigError
from downside.sources.live._archive import BinanceArchive
from downside.sources.live._bars import aggregate_bars, kline_frame
from downside.sources.live._base import Connector, HttpConnector, Page, Series
from downside.sources.live._binance import BinanceSpot, BinanceUsdm
from downside.sources.live._ccxt import BybitPerp, CcxtPerp, OkxPerp
from downside.sources.live._coinglass import CoinGlass
from downside.sources.live._defillama import DefiLlamaStablecoins
from downside.sources.live._deribit import DeribitVolatility
from downside.sources.live._farside import Farside, FarsideCsv
from downside.sources.live._fred import FredApi, FredGraph
from downside.sources.live._http import HttpClient, HttpOptions, RetryPolicy

ConnectorFactory = Callable[[HttpOptions, str | None, Settings], Connector]
"""Builds one connector from the shared HTTP options, a root URL replacing the
provider's (``None`` for the provider's own) and the settings holding API keys."""


def _fred(options: HttpOptions, url: str | None, settings: Settings) -> Connector:
    key = settings.fred_api_key
    return FredApi(key, options, base_url=url) if key else FredGraph(options, base_url=url)


def _coinglass(options: HttpOptions, url: str | None, settings: Settings) -> Connector:
    key = settings.coinglass_api_key
    if not key:
        raise ConfigError(
            "the coinglass source needs an API key: expected the setting coinglass_api_key "
            "(environment variable COINGLASS_API_KEY), found none; set it or drop coinglass "
            "from the source names"
        )
    return CoinGlass(key, options, base_url=url)


CONNECTORS: Mapping[str, ConnectorFactory] = {
    "binance_usdm": lambda options, url, _: BinanceUsdm(options, base_url=url),
    "binance_spot": lambda options, url, _: BinanceSpot(options, base_url=url),
    "binance_archive": lambda options, url, _: BinanceArchive(options, base_url=url),
    "bybit": lambda options, url, _: BybitPerp(options, api_url=url),
    "okx": lambda options, url, _: OkxPerp(options, api_url=url),
    "fred": _fred,
    "farside": lambda options, url, _: Farside(options, base_url=url),
    "defillama": lambda options, url, _: DefiLlamaStablecoins(options, base_url=url),
    "coinglass": _coinglass,
    "deribit": lambda options, url, _: DeribitVolatility(options, base_url=url),
}
"""Source name -> factory: the table :func:`make_connectors` builds connectors from."""

SOURCE_NAMES = tuple(CONNECTORS)
ALIASES: dict[str, tuple[str, ...]] = {"binance": ("binance_usdm", "binance_spot")}
DEFAULT_SOURCES = ("binance_usdm", "binance_spot", "fred", "farside", "defillama", "deribit")


def _wanted(names: Sequence[str]) -> list[str]:
    """Source names with aliases expanded, each once, in the order given.

    Raises:
        ConfigError: a name is neither a source nor an alias.
    """
    wanted: list[str] = []
    unknown = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        for item in ALIASES.get(name, (name,)):
            if item not in CONNECTORS:
                unknown.append(raw)
            elif item not in wanted:
                wanted.append(item)
    if unknown:
        raise ConfigError(
            f"unknown source(s) {unknown}: expected names from "
            f"{[*CONNECTORS, *ALIASES]}; fix the source names"
        )
    return wanted


def make_connectors(
    names: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    options: HttpOptions | None = None,
    base_urls: Mapping[str, str] | None = None,
) -> list[Connector]:
    """Build connectors by source name from :data:`CONNECTORS`, with keys from settings.

    Args:
        names: source names or aliases (see the module docstring); ``None`` for the
            defaults (:data:`DEFAULT_SOURCES`, plus ``coinglass`` when its key is set).
        settings: where API keys come from (``fred_api_key``, ``coinglass_api_key``);
            default :func:`downside.config.load_settings`.
        options: HTTP options shared by all connectors.
        base_urls: source name -> root URL replacing the provider's (tests, proxies).

    Returns:
        One connector per distinct source, in the order given.

    Raises:
        ConfigError: an unknown name, ``coinglass`` without a ``coinglass_api_key``, or
            invalid settings when they are loaded here.
    """
    resolved = settings if settings is not None else load_settings()
    opts = options if options is not None else HttpOptions()
    urls = dict(base_urls or {})
    if names is None:
        wanted = [*DEFAULT_SOURCES, *(["coinglass"] if resolved.coinglass_api_key else [])]
    else:
        wanted = _wanted(names)
    return [CONNECTORS[name](opts, urls.get(name), resolved) for name in wanted]


__all__ = [
    "ALIASES",
    "CONNECTORS",
    "DEFAULT_SOURCES",
    "SOURCE_NAMES",
    "BinanceArchive",
    "BinanceSpot",
    "BinanceUsdm",
    "BybitPerp",
    "CcxtPerp",
    "CoinGlass",
    "Connector",
    "ConnectorFactory",
    "DefiLlamaStablecoins",
    "DeribitVolatility",
    "Farside",
    "FarsideCsv",
    "FredApi",
    "FredGraph",
    "HttpClient",
    "HttpConnector",
    "HttpOptions",
    "OkxPerp",
    "Page",
    "RetryPolicy",
    "Series",
    "aggregate_bars",
    "kline_frame",
    "make_connectors",
]
