"""Other exchanges through ccxt (optional extra ``downside[exchanges]``): Bybit and OKX
USDT-margined perpetuals.

ccxt does the HTTP and the exchange-specific parsing; this module pages by time windows
(each window holds at most one page of rows, so no exchange's ordering rules can skip
rows), retries ccxt's network errors with the shared backoff policy, drops bars still
forming and maps the results into the canonical tables:

====================  ====================  ============================================
series                table                 keys / notes
====================  ====================  ============================================
ohlcv_1d, ohlcv_1h    ohlcv_daily/_hourly   venue ``bybit_perp``/``okx_perp``, pair
                                            ``BTCUSDT-PERP``; ``volume_quote`` empty
funding               funding_rates_8h      venue ``bybit``/``okx``; interval from the
                                            spacing of settlements
open_interest_1d      open_interest_daily   venue ``bybit_perp``/``okx_perp``; where the
                                            exchange reports only contracts (Bybit
                                            linear), USD = base amount x the open of the
                                            daily bar starting at the snapshot time
====================  ====================  ============================================

Only markets of the needed type are loaded (``options.fetchMarkets.types``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from downside.errors import (
    ConfigError,
    PayloadError,
    RateLimitedError,
    RequestRejectedError,
    SourceError,
    SourceTimeoutError,
)
from downside.sources.live._bars import BAR_TABLES, INTERVAL_MS
from downside.sources.live._base import (
    TS_DTYPE,
    Connector,
    Page,
    Series,
    base_symbol,
    check_symbol,
    check_table,
    drift,
    empty_table,
    ms,
)
from downside.sources.live._http import HttpOptions, redact

DEFAULT_SYMBOLS = ("BTC", "ETH")
DEFAULT_START = pd.Timestamp("2021-01-01", tz="UTC")
FUNDING_STEP = pd.Timedelta(hours=8)
T = TypeVar("T")


def load_ccxt() -> Any:
    """The ccxt module.

    Raises:
        ConfigError: ccxt is not installed.
    """
    try:
        return importlib.import_module("ccxt")
    except ImportError as exc:
        raise ConfigError(
            "the bybit and okx sources need ccxt, which is not installed; expected the "
            "optional extra: pip install 'downside[exchanges]' (ccxt==4.5.90)"
        ) from exc


def _point_at(value: Any, url: str) -> Any:
    if isinstance(value, str):
        return url
    if isinstance(value, dict):
        return {k: _point_at(v, url) for k, v in value.items()}
    return value


def ohlcv_frame(
    rows: Any,
    *,
    source: str,
    timeframe: str,
    symbol: str,
    venue: str,
    pair: str,
    now: pd.Timestamp | None,
) -> tuple[pd.DataFrame, int]:
    """ccxt OHLCV rows ``[ms, open, high, low, close, volume]`` -> canonical bars.

    Raises:
        PayloadError: rows of the wrong shape, or bar times not on the ``timeframe``
            grid (e.g. 5-minute bars answered to a 1-hour request).
    """
    if not isinstance(rows, list) or any(
        not isinstance(r, Sequence) or len(r) != 6 or r[0] is None for r in rows
    ):
        raise drift(source, "ohlcv", "rows [timestamp, open, high, low, close, volume]", rows[:2])
    step = INTERVAL_MS[timeframe]
    if not rows:
        table = BAR_TABLES.get(timeframe, "ohlcv_hourly")
        return empty_table(table), 0
    raw = pd.DataFrame([list(r) for r in rows], columns=["ms", "o", "h", "l", "c", "v"])
    stamps = raw["ms"].astype("int64")
    off = stamps % step != 0
    if off.any():
        received = [str(pd.Timestamp(int(v), unit="ms", tz="UTC")) for v in stamps[off][:3]]
        raise drift(source, f"{timeframe} ohlcv", f"bar opens on the {timeframe} grid", received)
    frame = pd.DataFrame(
        {
            "ts": pd.Series(pd.to_datetime(stamps, unit="ms", utc=True)).astype(TS_DTYPE),
            "symbol": symbol,
            "venue": venue,
            "pair": pair,
            "open": raw["o"].astype("float64"),
            "high": raw["h"].astype("float64"),
            "low": raw["l"].astype("float64"),
            "close": raw["c"].astype("float64"),
            "volume_base": raw["v"].astype("float64"),
            "volume_quote": np.nan,
        }
    )
    dropped = 0
    if now is not None:
        forming = (frame["ts"] + pd.Timedelta(milliseconds=step) > now).to_numpy(dtype=bool)
        dropped = int(forming.sum())
        frame = frame.loc[~forming].reset_index(drop=True)
    return frame, dropped


class CcxtPerp(Connector):
    """USDT-margined perpetuals of one ccxt exchange.

    Args:
        options: retry policy, sleep, clock and timeout.
        api_url: send every request to this root instead of the exchange's own hosts
            (a local server in tests, a proxy in production).
        exchange: a ready ccxt exchange object (built from ``exchange_id`` if omitted).
        intervals: bar intervals (``1d``, ``1h``).
        page_limit: rows per request window.
    """

    exchange_id: ClassVar[str]
    market_types: ClassVar[tuple[str, ...]]
    tables = ("ohlcv_daily", "ohlcv_hourly", "funding_rates_8h", "open_interest_daily")

    def __init__(
        self,
        options: HttpOptions | None = None,
        *,
        api_url: str | None = None,
        exchange: Any = None,
        intervals: Sequence[str] = ("1d", "1h"),
        page_limit: int = 200,
    ) -> None:
        super().__init__(options)
        self.api_url = api_url
        self.intervals = tuple(intervals)
        self.page_limit = page_limit
        self._exchange = exchange

    @property
    def venue(self) -> str:
        return f"{self.exchange_id}_perp"

    @property
    def exchange(self) -> Any:
        if self._exchange is None:
            ccxt = load_ccxt()
            exchange = getattr(ccxt, self.exchange_id)(
                {
                    "enableRateLimit": True,
                    "enableLastJsonResponse": True,
                    "timeout": int(self.options.timeout_s * 1000),
                    "options": {"fetchMarkets": {"types": list(self.market_types)}},
                }
            )
            if self.api_url is not None:
                exchange.urls["api"] = _point_at(exchange.urls["api"], self.api_url.rstrip("/"))
            self._exchange = exchange
        return self._exchange

    def close(self) -> None:
        if self._exchange is not None and hasattr(self._exchange, "session"):
            self._exchange.session.close()

    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        out = []
        for raw in symbols or DEFAULT_SYMBOLS:
            symbol = check_symbol(base_symbol(raw))
            params = {"unified": f"{symbol}/USDT:USDT", "pair": f"{symbol}USDT-PERP"}
            for interval in self.intervals:
                out.append(
                    Series(
                        self.name,
                        f"ohlcv_{interval}:{symbol}",
                        BAR_TABLES[interval],
                        {"symbol": symbol, "venue": self.venue},
                        pd.Timedelta(milliseconds=INTERVAL_MS[interval]),
                        DEFAULT_START,
                        {**params, "kind": "ohlcv", "interval": interval},
                    )
                )
            out.append(
                Series(
                    self.name,
                    f"funding:{symbol}",
                    "funding_rates_8h",
                    {"symbol": symbol, "venue": self.exchange_id},
                    pd.Timedelta(seconds=1),
                    DEFAULT_START,
                    {**params, "kind": "funding"},
                )
            )
            out.append(
                Series(
                    self.name,
                    f"open_interest_1d:{symbol}",
                    "open_interest_daily",
                    {"symbol": symbol, "venue": self.venue},
                    pd.Timedelta(days=1),
                    DEFAULT_START,
                    {**params, "kind": "open_interest"},
                )
            )
        return out

    # ------------------------------------------------------------------ calls

    def _envelope_ok(self, body: Any) -> bool:
        """Whether the exchange's raw answer has its documented envelope."""
        return isinstance(body, dict)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one ccxt call with retries; map ccxt's errors onto downside's.

        ccxt reads missing fields as empty results, so the raw answer's envelope is
        checked too: an answer without it is a :class:`PayloadError`, not "no data".
        """
        ccxt = load_ccxt()
        policy = self.options.retry
        rng = np.random.default_rng(self.options.seed)
        exchange = self.exchange
        for attempt in range(1, policy.max_attempts + 1):
            try:
                if exchange.markets is None or not exchange.markets:
                    exchange.markets = None
                    exchange.load_markets(reload=True)
                    self._check_envelope(f"{what}: load_markets", exchange.last_json_response)
                exchange.last_json_response = None
                result = fn()
                self._check_envelope(what, exchange.last_json_response)
                return result
            except SourceError:
                raise
            except ccxt.BadResponse as exc:
                raise PayloadError(
                    f"{self.name}: {what} returned an answer ccxt could not read "
                    f"({type(exc).__name__}: {redact(str(exc), ())[:300]}); the exchange's "
                    "format may have changed: nothing from it was written; report it",
                    source=self.name,
                    attempts=attempt,
                ) from exc
            except ccxt.NetworkError as exc:
                rate_limited = isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection)
                rate_limited = rate_limited or " 429 " in str(exc)
                timed_out = isinstance(exc, ccxt.RequestTimeout)
                if attempt == policy.max_attempts:
                    cls: type[SourceError] = (
                        RateLimitedError
                        if rate_limited
                        else SourceTimeoutError
                        if timed_out
                        else SourceError
                    )
                    raise cls(
                        f"{self.name}: {what} failed on all {attempt} attempts "
                        f"({type(exc).__name__}: {str(exc)[:300]}); expected an answer after "
                        "backing off; wait and rerun `downside update` (it resumes)",
                        source=self.name,
                        attempts=attempt,
                    ) from exc
                wait = min(policy.max_backoff_s, policy.backoff_s * 2 ** (attempt - 1))
                wait *= 1.0 + policy.jitter * float(rng.random())
                headers = exchange.last_response_headers or {}
                retry_after = {k.lower(): v for k, v in dict(headers).items()}.get("retry-after")
                if rate_limited and retry_after is not None and retry_after.strip().isdigit():
                    wait = min(float(retry_after), policy.max_retry_after_s)
                self.options.sleep(wait)
            except ccxt.ExchangeError as exc:
                body = exchange.last_json_response
                if not self._envelope_ok(body) and not self._error_envelope(body):
                    raise drift(
                        self.name, what, f"the {self.exchange_id} response envelope", body
                    ) from exc
                raise RequestRejectedError(
                    f"{self.name}: {what} was refused ({type(exc).__name__}: "
                    f"{str(exc)[:300]}); check the symbol; expected a listed USDT perpetual",
                    source=self.name,
                    attempts=attempt,
                ) from exc
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise PayloadError(
                    f"{self.name}: {what} returned a malformed answer ({type(exc).__name__}: "
                    f"{exc}); the exchange's format may have changed: nothing from it was "
                    "written; report it",
                    source=self.name,
                    attempts=attempt,
                ) from exc
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _error_envelope(self, body: Any) -> bool:
        """Whether the raw answer is the exchange's documented error envelope."""
        return False

    def _check_envelope(self, what: str, body: Any) -> None:
        if not self._envelope_ok(body):
            raise drift(self.name, what, f"the {self.exchange_id} response envelope", body)

    # ------------------------------------------------------------------ fetch

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        kind = series.params["kind"]
        if kind == "ohlcv":
            return self._windows(series, start, end, INTERVAL_MS[series.params["interval"]])
        if kind == "funding":
            return self._windows(series, start, end, ms(pd.Timestamp(0, tz="UTC") + FUNDING_STEP))
        if kind == "open_interest":
            return self._windows(series, start, end, INTERVAL_MS["1d"])
        raise ValueError(f"unknown series kind {kind!r} for {self.name}")

    def _windows(
        self, series: Series, start: pd.Timestamp, end: pd.Timestamp, step_ms: int
    ) -> Iterator[Page]:
        cursor = start
        span = pd.Timedelta(milliseconds=step_ms * self.page_limit)
        previous: pd.Timestamp | None = None
        while cursor < end:
            window_end = min(end, cursor + span)
            kind = series.params["kind"]
            if kind == "ohlcv":
                frame, dropped = self._ohlcv(series, cursor, window_end)
            elif kind == "funding":
                frame, dropped = self._funding(series, cursor, window_end, previous)
                if len(frame):
                    previous = frame["ts"].max()
            else:
                frame, dropped = self._open_interest(series, cursor, window_end)
            next_start = window_end if window_end < end else None
            if dropped and kind == "ohlcv":
                next_start = None
            notes = (f"{dropped} row(s) still forming left out",) if dropped else ()
            yield Page(
                series.id,
                cursor,
                next_start,
                {series.table: check_table(self.name, series.table, frame)},
                dropped,
                notes,
            )
            if next_start is None:
                return
            cursor = next_start

    def _ohlcv(
        self, series: Series, start: pd.Timestamp, end: pd.Timestamp, interval: str | None = None
    ) -> tuple[pd.DataFrame, int]:
        interval = interval or series.params["interval"]
        exchange = self.exchange
        rows = self._call(
            f"fetch_ohlcv {series.params['unified']} {interval}",
            lambda: exchange.fetch_ohlcv(
                series.params["unified"],
                interval,
                since=ms(start),
                limit=self.page_limit,
                params={"until": ms(end) - 1},
            ),
        )
        frame, dropped = ohlcv_frame(
            rows,
            source=self.name,
            timeframe=interval,
            symbol=series.keys["symbol"],
            venue=self.venue,
            pair=series.params["pair"],
            now=self.options.now(),
        )
        return frame.loc[(frame["ts"] >= start) & (frame["ts"] < end)], dropped

    def _funding_params(self, end: pd.Timestamp) -> dict[str, Any]:
        return {"until": ms(end) - 1}

    def _funding(
        self,
        series: Series,
        start: pd.Timestamp,
        end: pd.Timestamp,
        previous: pd.Timestamp | None,
    ) -> tuple[pd.DataFrame, int]:
        exchange = self.exchange
        rows = self._call(
            f"fetch_funding_rate_history {series.params['unified']}",
            lambda: exchange.fetch_funding_rate_history(
                series.params["unified"],
                since=ms(start),
                limit=self.page_limit,
                params=self._funding_params(end),
            ),
        )
        frame = funding_frame(
            rows,
            source=self.name,
            symbol=series.keys["symbol"],
            venue=self.exchange_id,
            instrument=series.params["pair"],
        )
        frame = frame.loc[(frame["ts"] >= start) & (frame["ts"] < end)].reset_index(drop=True)
        gaps = frame["ts"].diff()
        if len(frame) and previous is not None:
            gaps.iloc[0] = frame["ts"].iloc[0] - previous
        elif len(frame) > 1:
            gaps.iloc[0] = frame["ts"].iloc[1] - frame["ts"].iloc[0]
        frame["funding_interval_h"] = (gaps.dt.total_seconds() / 3600).round().astype("Int64")
        return frame, 0

    def _open_interest(
        self, series: Series, start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[pd.DataFrame, int]:
        exchange = self.exchange
        if not exchange.has.get("fetchOpenInterestHistory"):
            return empty_table("open_interest_daily"), 0
        rows = self._call(
            f"fetch_open_interest_history {series.params['unified']}",
            lambda: exchange.fetch_open_interest_history(
                series.params["unified"],
                "1d",
                since=ms(start),
                limit=self.page_limit,
                params={"until": ms(end) - 1},
            ),
        )
        frame = open_interest_frame(
            rows, source=self.name, symbol=series.keys["symbol"], venue=self.venue
        )
        frame = frame.loc[(frame["ts"] >= start) & (frame["ts"] < end)].reset_index(drop=True)
        missing = frame["open_interest_usd"].isna() & frame["open_interest_base"].notna()
        if missing.any():
            bars, _ = self._ohlcv(series, start, end, "1d")
            opens = frame["ts"].map(dict(zip(bars["ts"], bars["open"], strict=True)))
            frame.loc[missing, "open_interest_usd"] = (
                frame.loc[missing, "open_interest_base"] * opens[missing]
            )
        unpriced = frame["open_interest_usd"].isna()
        dropped = int(unpriced.sum())
        return frame.loc[~unpriced], dropped


def funding_frame(
    rows: Any, *, source: str, symbol: str, venue: str, instrument: str
) -> pd.DataFrame:
    """ccxt funding-rate-history structures -> ``funding_rates_8h`` rows.

    Raises:
        PayloadError: entries without ``timestamp`` or ``fundingRate``.
    """
    if not isinstance(rows, list):
        raise drift(source, "funding rate history", "a list of funding structures", rows)
    bad = [r for r in rows if not isinstance(r, Mapping) or r.get("timestamp") is None]
    bad += [r for r in rows if isinstance(r, Mapping) and r.get("fundingRate") is None]
    if bad:
        raise drift(
            source, "funding rate history", "entries with timestamp and fundingRate", bad[:2]
        )
    if not rows:
        return empty_table("funding_rates_8h")
    stamps = pd.Series([int(r["timestamp"]) for r in rows], dtype="int64")
    ts = pd.Series(pd.to_datetime(stamps, unit="ms", utc=True)).dt.round("s")
    frame = pd.DataFrame(
        {
            "ts": ts.astype(TS_DTYPE),
            "symbol": symbol,
            "venue": venue,
            "instrument": instrument,
            "funding_rate": pd.Series([float(r["fundingRate"]) for r in rows], dtype="float64"),
            "funding_interval_h": pd.array([pd.NA] * len(rows), dtype="Int64"),
        }
    )
    return frame.sort_values("ts", ignore_index=True)


def open_interest_frame(rows: Any, *, source: str, symbol: str, venue: str) -> pd.DataFrame:
    """ccxt open-interest structures (daily) -> ``open_interest_daily`` rows; the USD
    value is left empty where the exchange gives only the base amount.

    Raises:
        PayloadError: entries without a timestamp or without any amount, or times not at
            00:00 UTC.
    """
    if not isinstance(rows, list):
        raise drift(source, "open interest history", "a list of open-interest structures", rows)
    bad = [
        r
        for r in rows
        if not isinstance(r, Mapping)
        or r.get("timestamp") is None
        or (r.get("openInterestValue") is None and r.get("openInterestAmount") is None)
    ]
    if bad:
        raise drift(
            source, "open interest history", "entries with a timestamp and an amount", bad[:2]
        )
    if not rows:
        return empty_table("open_interest_daily")
    stamps = pd.Series([int(r["timestamp"]) for r in rows], dtype="int64")
    ts = pd.Series(pd.to_datetime(stamps, unit="ms", utc=True)).astype(TS_DTYPE)
    if (ts != ts.dt.normalize()).any():
        raise drift(source, "daily open interest", "timestamps at 00:00 UTC", list(ts[:2]))

    def values(key: str) -> pd.Series:
        return pd.Series(
            [np.nan if r.get(key) is None else float(r[key]) for r in rows], dtype="float64"
        )

    frame = pd.DataFrame(
        {
            "ts": ts,
            "symbol": symbol,
            "venue": venue,
            "open_interest_usd": values("openInterestValue"),
            "open_interest_base": values("openInterestAmount"),
            "estimated_leverage_ratio": np.nan,
        }
    )
    return frame.sort_values("ts", ignore_index=True)


class BybitPerp(CcxtPerp):
    """Bybit linear (USDT) perpetuals through ccxt."""

    name = "bybit"
    exchange_id = "bybit"
    market_types = ("linear",)

    def _error_envelope(self, body: Any) -> bool:
        return isinstance(body, dict) and "retCode" in body and "retMsg" in body

    def _envelope_ok(self, body: Any) -> bool:
        result = body.get("result") if isinstance(body, dict) else None
        return (
            isinstance(body, dict)
            and body.get("retCode") == 0
            and isinstance(result, dict)
            and isinstance(result.get("list"), list)
        )


class OkxPerp(CcxtPerp):
    """OKX USDT swaps through ccxt."""

    name = "okx"
    exchange_id = "okx"
    market_types = ("swap",)

    def _error_envelope(self, body: Any) -> bool:
        return isinstance(body, dict) and "code" in body and "msg" in body

    def _envelope_ok(self, body: Any) -> bool:
        return (
            isinstance(body, dict)
            and str(body.get("code")) == "0"
            and isinstance(body.get("data"), list)
        )

    def _funding_params(self, end: pd.Timestamp) -> dict[str, Any]:
        return {"after": ms(end)}
