"""Deribit's DVOL implied-volatility index (public JSON-RPC over HTTPS, no key).

- ``GET /api/v2/public/get_volatility_index_data?currency=BTC&start_timestamp=<ms>&
  end_timestamp=<ms>&resolution=1D`` answers ``{"jsonrpc": "2.0", "id": ..., "result":
  {"data": [[timestamp_ms, open, high, low, close], ...], "continuation": <ms> | null}}``.
  A ``continuation`` that is not null means the answer was cut: it is the
  ``end_timestamp`` of the request that returns the earlier candles of the same range.
  An error answers ``{"jsonrpc": "2.0", "error": {"code", "message", "data"}}``.

Rows map to ``implied_vol_daily``: ``symbol`` = the currency, ``venue`` = ``deribit``,
``index`` = ``DVOL``, ``iv_annualized_pct`` = the close of the daily candle (the index at
the end of UTC day D: 30-day implied volatility, annualised, in percent, 55.2 = 55.2 %),
``source`` = ``deribit``. A daily candle is stamped 00:00 UTC of its day; the running
day's candle is still moving, so requests end at the start of the current UTC day.

Paging is forward in time, by windows of ``page_days`` days, one page per window. Inside
a window the connector follows continuations until the window is complete, so a page is
whole and an interrupted update resumes at the next window. Deribit publishes DVOL for
BTC and ETH only; other symbols have no series.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd

from downside.errors import RequestRejectedError
from downside.sources._schema import TABLES
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
from downside.sources.live._http import HttpOptions

DERIBIT_URL = "https://www.deribit.com/api/v2"
VOLATILITY_INDEX_PATH = "/public/get_volatility_index_data"
VENUE = "deribit"
INDEX = "DVOL"
CURRENCIES = ("BTC", "ETH")
DEFAULT_START = pd.Timestamp("2021-03-24", tz="UTC")
PAGE_DAYS = 365
CANDLE_FIELDS = ("timestamp_ms", "open", "high", "low", "close")


def _rejected(source: str, error: Any) -> RequestRejectedError:
    detail = error.get("data") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    code = error.get("code") if isinstance(error, dict) else None
    return RequestRejectedError(
        f"{source}: get_volatility_index_data answered error {code}: {message}"
        + (f" ({detail})" if detail else "")
        + f"; expected a result; check the currency (one of {list(CURRENCIES)})",
        source=source,
    )


def parse_volatility_index(
    payload: Any, *, symbol: str, source: str = "deribit"
) -> tuple[pd.DataFrame, int | None]:
    """A ``get_volatility_index_data`` answer with ``resolution=1D`` -> (rows, continuation).

    Args:
        payload: the decoded JSON-RPC answer.
        symbol: value of the ``symbol`` key (the requested currency).
        source: connector name for errors.

    Returns:
        ``implied_vol_daily`` rows sorted by ``ts`` (the close of each daily candle), and
        the answer's ``continuation`` (``None`` when the answer is complete).

    Raises:
        RequestRejectedError: the answer is a JSON-RPC error.
        PayloadError: no ``result`` with ``data`` and ``continuation``, candles that are
            not ``[timestamp_ms, open, high, low, close]``, candles not at 00:00 UTC, or
            closes outside the plausible range of annualised percent (a change of units).
    """
    if isinstance(payload, dict) and "error" in payload:
        raise _rejected(source, payload["error"])
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("data"), list):
        raise drift(
            source,
            "get_volatility_index_data",
            'an object {"result": {"data": [...], "continuation": ...}}',
            payload,
        )
    continuation = result.get("continuation")
    if continuation is not None and (
        isinstance(continuation, bool) or not isinstance(continuation, int)
    ):
        raise drift(
            source, "volatility index continuation", "a timestamp in ms or null", continuation
        )
    data = result["data"]
    bad = [row for row in data if not isinstance(row, list) or len(row) != len(CANDLE_FIELDS)]
    if bad:
        raise drift(source, "volatility index candles", f"rows {list(CANDLE_FIELDS)}", bad[:2])
    if not data:
        return empty_table("implied_vol_daily"), continuation
    raw = pd.DataFrame(data, columns=list(CANDLE_FIELDS))
    ts = from_ms(numeric_column(source, "candle timestamp", raw["timestamp_ms"]))
    off = ts != ts.dt.normalize()
    if off.any():
        raise drift(
            source, "1D volatility index candles", "candles at 00:00 UTC", list(ts[off][:2])
        )
    close = numeric_column(source, "candle close", raw["close"])
    low, high = TABLES["implied_vol_daily"].bounds["iv_annualized_pct"]
    implausible = ~close.between(low, high)
    if implausible.any():
        raise drift(
            source,
            f"{symbol} DVOL closes",
            f"annualised implied volatility in percent, {low:g} to {high:g} (55.2 = 55.2 %)",
            close[implausible].head(3).tolist(),
        )
    frame = pd.DataFrame(
        {
            "ts": ts,
            "symbol": symbol,
            "venue": VENUE,
            "index": INDEX,
            "iv_annualized_pct": close,
            "source": VENUE,
        }
    )
    return frame.sort_values("ts", ignore_index=True), continuation


class DeribitVolatility(HttpConnector):
    """Deribit's DVOL index per currency, daily closes -> ``implied_vol_daily``.

    Args:
        options: HTTP options.
        base_url: the API root (``.../api/v2``; tests point it at a local server).
        page_days: days per request window (one page each).
    """

    name = "deribit"
    tables = ("implied_vol_daily",)
    default_url = DERIBIT_URL

    def __init__(
        self,
        options: HttpOptions | None = None,
        *,
        base_url: str | None = None,
        page_days: int = PAGE_DAYS,
    ) -> None:
        super().__init__(options, base_url=base_url)
        self.page_days = page_days

    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        wanted = [check_symbol(base_symbol(s)) for s in symbols] if symbols else CURRENCIES
        return [
            Series(
                self.name,
                f"dvol:{currency}",
                "implied_vol_daily",
                {"symbol": currency, "venue": VENUE, "index": INDEX},
                pd.Timedelta(days=1),
                DEFAULT_START,
                {"currency": currency},
            )
            for currency in CURRENCIES
            if currency in wanted
        ]

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        end = min(end, self.options.now().normalize())
        cursor = start
        while cursor < end:
            window_end = min(end, cursor + pd.Timedelta(days=self.page_days))
            frame = self._window(series, cursor, window_end)
            next_start = window_end if window_end < end else None
            yield Page(
                series.id,
                cursor,
                next_start,
                {"implied_vol_daily": check_table(self.name, "implied_vol_daily", frame)},
            )
            if next_start is None:
                return
            cursor = next_start

    def _window(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """The daily candles of ``[start, end)``, following continuations backwards.

        Raises:
            PayloadError: a continuation that does not move before the candles received.
        """
        symbol = series.keys["symbol"]
        frames = []
        request_end = ms(end) - 1
        while True:
            payload = self.http.get_json(
                VOLATILITY_INDEX_PATH,
                {
                    "currency": series.params["currency"],
                    "start_timestamp": ms(start),
                    "end_timestamp": request_end,
                    "resolution": "1D",
                },
            )
            frame, continuation = parse_volatility_index(payload, symbol=symbol, source=self.name)
            if len(frame):
                frames.append(frame)
            if continuation is None or continuation < ms(start):
                break
            if frame.empty or continuation > ms(frame["ts"].min()) or continuation >= request_end:
                raise drift(
                    self.name,
                    "volatility index continuation",
                    "a timestamp before the request's end, at or before its earliest candle",
                    continuation,
                )
            request_end = continuation
        if not frames:
            return empty_table("implied_vol_daily")
        out = pd.concat(frames, ignore_index=True).drop_duplicates("ts")
        return out.loc[(out["ts"] >= start) & (out["ts"] < end)]
