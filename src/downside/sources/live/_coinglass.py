"""CoinGlass API v4 (optional; key from the ``coinglass_api_key`` setting, sent as
``CG-API-KEY``).

- ``/api/futures/liquidation/aggregated-history?symbol=BTC&interval=1d&exchange_list=...``:
  ``{"code": "0", "msg": "success", "data": [{"time": ms, "aggregated_long_liquidation_usd":
  ..., "aggregated_short_liquidation_usd": ...}]}`` -> ``liquidations_daily``.
- ``/api/futures/open-interest/aggregated-history?symbol=BTC&interval=1d``: ``data`` of
  ``{"time", "open", "high", "low", "close"}`` (USD; ``close`` = at the interval end) ->
  ``open_interest_daily`` (``open_interest_usd`` = close).

Both use venue ``coinglass_aggregated``. A ``code`` other than ``"0"`` is an error (its
``msg`` is quoted; the key never is).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from downside.errors import RequestRejectedError
from downside.sources.live._base import (
    HttpConnector,
    Page,
    Series,
    base_symbol,
    check_symbol,
    check_table,
    drift,
    empty_table,
    from_ms,
    ms,
    numeric_column,
)
from downside.sources.live._http import HttpClient, HttpOptions

COINGLASS_URL = "https://open-api-v4.coinglass.com"
VENUE = "coinglass_aggregated"
DEFAULT_EXCHANGES = ("Binance", "OKX", "Bybit")
DEFAULT_SYMBOLS = ("BTC", "ETH")
DEFAULT_START = pd.Timestamp("2021-01-01", tz="UTC")
PAGE_LIMIT = 1000


def _data(payload: Any, source: str, what: str) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or "code" not in payload:
        raise drift(source, what, 'an object {"code", "msg", "data"}', payload)
    if str(payload["code"]) != "0":
        raise RequestRejectedError(
            f"{source}: {what} answered code {payload['code']!r}: {payload.get('msg')}; "
            "expected code '0'; check the CoinGlass API key and your plan's limits",
            source=source,
        )
    data = payload.get("data")
    if not isinstance(data, list) or any(not isinstance(d, dict) or "time" not in d for d in data):
        raise drift(source, what, "a data array of objects with time", data)
    return data


def _day_stamps(source: str, what: str, raw: pd.DataFrame) -> pd.Series:
    ts = from_ms(numeric_column(source, f"{what} time", raw["time"]))
    if (ts != ts.dt.normalize()).any():
        raise drift(source, what, "daily points at 00:00 UTC", list(ts[:2]))
    return ts


def parse_liquidations(payload: Any, *, symbol: str, source: str = "coinglass") -> pd.DataFrame:
    """Aggregated liquidation history -> ``liquidations_daily`` rows.

    Raises:
        RequestRejectedError: ``code`` is not ``"0"``.
        PayloadError: the documented fields are missing.
    """
    what = "liquidation aggregated-history"
    data = _data(payload, source, what)
    if not data:
        return empty_table("liquidations_daily")
    fields = ("aggregated_long_liquidation_usd", "aggregated_short_liquidation_usd")
    missing = [d for d in data if set(fields) - set(d)]
    if missing:
        raise drift(source, what, f"points with {list(fields)}", missing[:1])
    raw = pd.DataFrame.from_records(data)
    return pd.DataFrame(
        {
            "ts": _day_stamps(source, what, raw),
            "symbol": symbol,
            "venue": VENUE,
            "long_liq_usd": numeric_column(source, fields[0], raw[fields[0]]),
            "short_liq_usd": numeric_column(source, fields[1], raw[fields[1]]),
            "long_liq_base": np.nan,
            "short_liq_base": np.nan,
        }
    )


def parse_open_interest(payload: Any, *, symbol: str, source: str = "coinglass") -> pd.DataFrame:
    """Aggregated open-interest OHLC history -> ``open_interest_daily`` rows (close).

    Raises:
        RequestRejectedError: ``code`` is not ``"0"``.
        PayloadError: the documented fields are missing.
    """
    what = "open-interest aggregated-history"
    data = _data(payload, source, what)
    if not data:
        return empty_table("open_interest_daily")
    missing = [d for d in data if "close" not in d]
    if missing:
        raise drift(source, what, "points with close", missing[:1])
    raw = pd.DataFrame.from_records(data)
    return pd.DataFrame(
        {
            "ts": _day_stamps(source, what, raw),
            "symbol": symbol,
            "venue": VENUE,
            "open_interest_usd": numeric_column(source, "close", raw["close"]),
            "open_interest_base": np.nan,
            "estimated_leverage_ratio": np.nan,
        }
    )


class CoinGlass(HttpConnector):
    """Aggregated liquidations and open interest from CoinGlass.

    Args:
        api_key: the key (the ``coinglass_api_key`` setting); never logged or shown.
        exchanges: exchanges summed in the liquidation series.
    """

    name = "coinglass"
    tables = ("liquidations_daily", "open_interest_daily")
    default_url = COINGLASS_URL

    def __init__(
        self,
        api_key: str,
        options: HttpOptions | None = None,
        *,
        exchanges: Sequence[str] = DEFAULT_EXCHANGES,
        base_url: str | None = None,
    ) -> None:
        super().__init__(options, base_url=base_url)
        self._api_key = api_key
        self.exchanges = tuple(exchanges)

    def __repr__(self) -> str:
        return f"CoinGlass(exchanges={list(self.exchanges)}, api_key=***)"

    def new_client(self) -> HttpClient:
        """A client that sends the key as ``CG-API-KEY`` and redacts it everywhere."""
        headers = {"CG-API-KEY": self._api_key, "accept": "application/json"}
        return HttpClient(
            self.name, self.url, self.options, headers=headers, secrets=[self._api_key]
        )

    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        out = []
        for raw in symbols or DEFAULT_SYMBOLS:
            symbol = check_symbol(base_symbol(raw))
            for kind, table in (
                ("liquidations", "liquidations_daily"),
                ("open_interest", "open_interest_daily"),
            ):
                out.append(
                    Series(
                        self.name,
                        f"{kind}:{symbol}",
                        table,
                        {"symbol": symbol, "venue": VENUE},
                        pd.Timedelta(days=1),
                        DEFAULT_START,
                        {"kind": kind},
                    )
                )
        return out

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        kind = series.params["kind"]
        symbol = series.keys["symbol"]
        today = self.options.now().normalize()
        end = min(end, today)
        cursor = start
        while cursor < end:
            window_end = min(end, cursor + pd.Timedelta(days=PAGE_LIMIT))
            params: dict[str, Any] = {
                "symbol": symbol,
                "interval": "1d",
                "start_time": ms(cursor),
                "end_time": ms(window_end) - 1,
                "limit": PAGE_LIMIT,
            }
            if kind == "liquidations":
                params["exchange_list"] = ",".join(self.exchanges)
                payload = self.http.get_json("/api/futures/liquidation/aggregated-history", params)
                frame = parse_liquidations(payload, symbol=symbol, source=self.name)
            else:
                payload = self.http.get_json(
                    "/api/futures/open-interest/aggregated-history", params
                )
                frame = parse_open_interest(payload, symbol=symbol, source=self.name)
            frame = frame.loc[(frame["ts"] >= cursor) & (frame["ts"] < window_end)]
            next_start = window_end if window_end < end else None
            yield Page(
                series.id,
                cursor,
                next_start,
                {series.table: check_table(self.name, series.table, frame)},
            )
            if next_start is None:
                return
            cursor = next_start
