"""Binance REST: USD-M futures (klines, funding, open interest, premium index, long/short
ratios) and spot klines.

Endpoints (public, no key): ``/fapi/v1/klines``, ``/fapi/v1/fundingRate``,
``/futures/data/openInterestHist``, ``/fapi/v1/premiumIndex``,
``/futures/data/{globalLongShortAccountRatio, topLongShortAccountRatio,
topLongShortPositionRatio, takerlongshortRatio}`` and spot ``/api/v3/klines``. Every answer
carries ``X-MBX-USED-WEIGHT-1M``; the client pauses near the budget (2400 per minute on
futures, 6000 on spot).

Canonical mapping:

=====================  ====================  ========================================
series                 table                 keys / notes
=====================  ====================  ========================================
klines_1d, klines_1h   ohlcv_daily/_hourly   venue ``binance_usdm_perp`` (pair
                                             ``BTCUSDT-PERP``) or ``binance_spot``
                                             (pair ``BTCUSDT``); forming bars dropped
funding                funding_rates_8h      venue ``binance``, instrument
                                             ``BTCUSDT-PERP``; settlement times rounded
                                             to the second; interval from the spacing
open_interest_1d       open_interest_daily   venue ``binance_usdm_perp``; the point
                                             stamped T is labelled day T (conservative:
                                             known by the end of T); only the last 30
                                             days are served by Binance
premium_index          funding_rates_8h      venue ``binance_predicted``: the current
                                             ``lastFundingRate`` for the coming
                                             settlement ``nextFundingTime``; a
                                             prediction, kept apart from settled rates
=====================  ====================  ========================================

Long/short ratios have no canonical table; :meth:`BinanceUsdm.fetch_ratios` returns them as
a plain frame (see its docstring).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pandas as pd

from downside.sources.live._bars import BAR_TABLES, INTERVAL_MS, kline_frame
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
    utc,
)
from downside.sources.live._http import HttpClient, HttpOptions

FAPI_URL = "https://fapi.binance.com"
SPOT_URL = "https://api.binance.com"
WEIGHT_HEADER = "x-mbx-used-weight-1m"
DEFAULT_SYMBOLS = ("BTC", "ETH")
DEFAULT_START = pd.Timestamp("2020-01-01", tz="UTC")
OPEN_INTEREST_DAYS = 29
RATIO_PATHS: dict[str, str] = {
    "global_account": "/futures/data/globalLongShortAccountRatio",
    "top_account": "/futures/data/topLongShortAccountRatio",
    "top_position": "/futures/data/topLongShortPositionRatio",
    "taker_volume": "/futures/data/takerlongshortRatio",
}
RATIO_COLUMNS = ("ts", "symbol", "venue", "kind", "ratio", "long_share", "short_share")


class _BinanceKlines(HttpConnector):
    """Shared kline paging of the futures and spot connectors."""

    kline_path: ClassVar[str]
    kline_limit: ClassVar[int]
    weight_limit: ClassVar[int]
    venue: ClassVar[str]
    pair_suffix: ClassVar[str]

    def __init__(
        self,
        options: HttpOptions | None = None,
        *,
        base_url: str | None = None,
        intervals: Sequence[str] = ("1d", "1h"),
        page_limit: int | None = None,
    ) -> None:
        super().__init__(options, base_url=base_url)
        self.intervals = tuple(intervals)
        self.page_limit = page_limit or self.kline_limit

    def new_client(self) -> HttpClient:
        """A client that pauses near Binance's request-weight budget per minute."""
        return HttpClient(
            self.name,
            self.url,
            self.options,
            weight_header=WEIGHT_HEADER,
            weight_limit_1m=self.weight_limit,
        )

    def _kline_series(self, symbols: Sequence[str] | None) -> list[Series]:
        out = []
        for raw in symbols or DEFAULT_SYMBOLS:
            symbol = check_symbol(base_symbol(raw))
            for interval in self.intervals:
                out.append(
                    Series(
                        self.name,
                        f"klines_{interval}:{symbol}",
                        BAR_TABLES[interval],
                        {"symbol": symbol, "venue": self.venue},
                        pd.Timedelta(milliseconds=INTERVAL_MS[interval]),
                        DEFAULT_START,
                        {"kind": "klines", "interval": interval, "pair": f"{symbol}USDT"},
                    )
                )
        return out

    def _klines(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        interval = series.params["interval"]
        pair = series.params["pair"]
        step = INTERVAL_MS[interval]
        table = BAR_TABLES[interval]
        cursor = start
        while cursor < end:
            payload = self.http.get_json(
                self.kline_path,
                {
                    "symbol": pair,
                    "interval": interval,
                    "startTime": ms(cursor),
                    "endTime": ms(end) - 1,
                    "limit": self.page_limit,
                },
            )
            frame, forming = kline_frame(
                payload,
                source=self.name,
                interval=interval,
                symbol=series.keys["symbol"],
                venue=self.venue,
                pair=pair + self.pair_suffix,
                now=self.options.now(),
            )
            if isinstance(payload, list) and payload:
                last_open = utc(pd.Timestamp(int(payload[-1][0]), unit="ms"))
                if last_open < cursor:
                    raise drift(
                        self.name, "klines", f"bars opening at or after {cursor}", last_open
                    )
                following = last_open + pd.Timedelta(milliseconds=step)
                full = len(payload) >= self.page_limit
                next_start = following if full and following < end and not forming else None
            else:
                next_start = None
            notes = (f"{forming} bar(s) still forming left out",) if forming else ()
            yield Page(
                series.id,
                cursor,
                next_start,
                {table: check_table(self.name, table, frame)},
                forming,
                notes,
            )
            if next_start is None:
                return
            cursor = next_start


class BinanceSpot(_BinanceKlines):
    """Binance spot klines (``/api/v3/klines``) -> ``ohlcv_daily``/``ohlcv_hourly``,
    venue ``binance_spot``."""

    name = "binance_spot"
    tables = ("ohlcv_daily", "ohlcv_hourly")
    default_url = SPOT_URL
    kline_path = "/api/v3/klines"
    kline_limit = 1000
    weight_limit = 6000
    venue = "binance_spot"
    pair_suffix = ""

    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        return self._kline_series(symbols)

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        return self._klines(series, start, end)


class BinanceUsdm(_BinanceKlines):
    """Binance USD-M perpetual futures: klines, funding history, open interest and the
    premium index (predicted funding). See the module docstring for the mapping."""

    name = "binance_usdm"
    tables = ("ohlcv_daily", "ohlcv_hourly", "funding_rates_8h", "open_interest_daily")
    default_url = FAPI_URL
    kline_path = "/fapi/v1/klines"
    kline_limit = 1500
    weight_limit = 2400
    venue = "binance_usdm_perp"
    pair_suffix = "-PERP"
    funding_limit = 1000
    open_interest_limit = 500

    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        out = self._kline_series(symbols)
        oi_start = (self.options.now() - pd.Timedelta(days=OPEN_INTEREST_DAYS)).normalize()
        for raw in symbols or DEFAULT_SYMBOLS:
            symbol = check_symbol(base_symbol(raw))
            pair = f"{symbol}USDT"
            out.append(
                Series(
                    self.name,
                    f"funding:{symbol}",
                    "funding_rates_8h",
                    {"symbol": symbol, "venue": "binance"},
                    pd.Timedelta(seconds=1),
                    DEFAULT_START,
                    {"kind": "funding", "pair": pair},
                )
            )
            out.append(
                Series(
                    self.name,
                    f"open_interest_1d:{symbol}",
                    "open_interest_daily",
                    {"symbol": symbol, "venue": self.venue},
                    pd.Timedelta(days=1),
                    oi_start,
                    {"kind": "open_interest", "pair": pair},
                )
            )
            out.append(
                Series(
                    self.name,
                    f"premium_index:{symbol}",
                    "funding_rates_8h",
                    {"symbol": symbol, "venue": "binance_predicted"},
                    pd.Timedelta(hours=1),
                    DEFAULT_START,
                    {"kind": "premium_index", "pair": pair},
                    snapshot=True,
                )
            )
        return out

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        kind = series.params["kind"]
        if kind == "klines":
            return self._klines(series, start, end)
        if kind == "funding":
            return self._funding(series, start, end)
        if kind == "open_interest":
            return self._open_interest(series, start, end)
        if kind == "premium_index":
            return self._premium(series, start)
        raise ValueError(f"unknown series kind {kind!r} for {self.name}")

    # ----------------------------------------------------------------- funding

    def _funding(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        cursor = start
        previous: pd.Timestamp | None = None
        while cursor < end:
            payload = self.http.get_json(
                "/fapi/v1/fundingRate",
                {
                    "symbol": series.params["pair"],
                    "startTime": ms(cursor),
                    "endTime": ms(end) - 1,
                    "limit": self.funding_limit,
                },
            )
            frame = parse_funding(payload, source=self.name, symbol=series.keys["symbol"])
            frame = frame.loc[(frame["ts"] >= cursor) & (frame["ts"] < end)]
            frame = _with_intervals(frame, previous)
            full = isinstance(payload, list) and len(payload) >= self.funding_limit
            next_start = None
            if full and len(frame):
                last = pd.Timestamp(int(payload[-1]["fundingTime"]), unit="ms", tz="UTC")
                following = last + pd.Timedelta(milliseconds=1)
                next_start = following if following < end else None
            if len(frame):
                previous = frame["ts"].iloc[-1]
            table = check_table(self.name, "funding_rates_8h", frame)
            yield Page(series.id, cursor, next_start, {"funding_rates_8h": table})
            if next_start is None:
                return
            cursor = next_start

    # ----------------------------------------------------------------- open interest

    def _open_interest(
        self, series: Series, start: pd.Timestamp, end: pd.Timestamp
    ) -> Iterator[Page]:
        earliest = (self.options.now() - pd.Timedelta(days=OPEN_INTEREST_DAYS)).normalize()
        notes: tuple[str, ...] = ()
        cursor = start
        if cursor < earliest:
            notes = (f"Binance serves only the last 30 days; started at {earliest:%Y-%m-%d}",)
        first = True
        while cursor < end:
            payload = self.http.get_json(
                "/futures/data/openInterestHist",
                {
                    "symbol": series.params["pair"],
                    "period": "1d",
                    "startTime": ms(max(cursor, earliest)),
                    "endTime": ms(end) - 1,
                    "limit": self.open_interest_limit,
                },
            )
            frame = parse_open_interest_hist(
                payload, source=self.name, symbol=series.keys["symbol"], venue=self.venue
            )
            frame = frame.loc[(frame["ts"] >= cursor) & (frame["ts"] < end)]
            full = isinstance(payload, list) and len(payload) >= self.open_interest_limit
            next_start = None
            if full and len(frame):
                following = frame["ts"].max() + pd.Timedelta(days=1)
                next_start = following if following < end else None
            table = check_table(self.name, "open_interest_daily", frame)
            yield Page(
                series.id,
                cursor,
                next_start,
                {"open_interest_daily": table},
                0,
                notes if first else (),
            )
            first = False
            if next_start is None:
                return
            cursor = next_start

    # ----------------------------------------------------------------- premium index

    def _premium(self, series: Series, start: pd.Timestamp) -> Iterator[Page]:
        payload = self.http.get_json("/fapi/v1/premiumIndex", {"symbol": series.params["pair"]})
        frame = parse_premium_index(payload, source=self.name)
        frame = frame.loc[frame["symbol"] == series.keys["symbol"]]
        if frame.empty:
            raise drift(self.name, "premiumIndex", f"an entry for {series.params['pair']}", payload)
        yield Page(
            series.id,
            start,
            None,
            {"funding_rates_8h": check_table(self.name, "funding_rates_8h", frame)},
            0,
            ("predicted rate for the coming settlement (venue binance_predicted)",),
        )

    # ----------------------------------------------------------------- ratios

    def fetch_ratios(
        self,
        symbol: str,
        kind: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        period: str = "1d",
    ) -> pd.DataFrame:
        """Long/short ratios, which have no canonical table (the store cannot hold them).

        Args:
            symbol: base asset (``BTC``).
            kind: ``global_account`` (all accounts), ``top_account`` and
                ``top_position`` (top traders), ``taker_volume`` (taker buy/sell volume).
            start, end: time range; Binance serves the last 30 days only.
            period: ``5m`` ... ``1d``.

        Returns:
            Columns ``ts, symbol, venue, kind, ratio, long_share, short_share`` (the
            shares are account or position shares, or buy/sell volumes for
            ``taker_volume``), sorted by ``ts``.

        Raises:
            PayloadError: the response does not have the documented shape.
            SourceError: as :meth:`HttpClient.get`.
        """
        if kind not in RATIO_PATHS:
            raise ValueError(f"unknown ratio kind {kind!r}; expected one of {list(RATIO_PATHS)}")
        sym = check_symbol(base_symbol(symbol))
        frames = []
        cursor = start
        while cursor < end:
            payload = self.http.get_json(
                RATIO_PATHS[kind],
                {
                    "symbol": f"{sym}USDT",
                    "period": period,
                    "startTime": ms(cursor),
                    "endTime": ms(end) - 1,
                    "limit": 500,
                },
            )
            frame = parse_ratios(payload, source=self.name, symbol=sym, kind=kind)
            frames.append(frame)
            if len(frame) < 500:
                break
            cursor = frame["ts"].max() + pd.Timedelta(milliseconds=1)
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return out.drop_duplicates("ts").sort_values("ts", ignore_index=True)


def _with_intervals(frame: pd.DataFrame, previous: pd.Timestamp | None) -> pd.DataFrame:
    """Set ``funding_interval_h`` from the spacing of settlements (hours, rounded)."""
    out = frame.sort_values("ts").reset_index(drop=True)
    ts = out["ts"]
    gaps = ts.diff()
    if previous is not None and len(ts):
        gaps.iloc[0] = ts.iloc[0] - previous
    elif len(ts) > 1:
        gaps.iloc[0] = ts.iloc[1] - ts.iloc[0]
    hours = (gaps.dt.total_seconds() / 3600).round()
    out["funding_interval_h"] = hours.astype("Int64")
    return out


def _records(payload: Any, source: str, what: str, fields: Sequence[str]) -> pd.DataFrame:
    if not isinstance(payload, list):
        raise drift(source, what, "a JSON array of objects", payload)
    if not payload:
        return pd.DataFrame(columns=list(fields))
    bad = [row for row in payload if not isinstance(row, dict) or set(fields) - set(row)]
    if bad:
        raise drift(source, what, f"objects with fields {list(fields)}", bad[:2])
    return pd.DataFrame.from_records(payload)


def parse_funding(payload: Any, *, source: str, symbol: str) -> pd.DataFrame:
    """``/fapi/v1/fundingRate`` -> ``funding_rates_8h`` rows (``funding_interval_h`` unset).

    Raises:
        PayloadError: not an array of ``{symbol, fundingRate, fundingTime}`` objects.
    """
    raw = _records(payload, source, "fundingRate", ("symbol", "fundingRate", "fundingTime"))
    if raw.empty:
        return empty_table("funding_rates_8h")
    ts = from_ms(numeric_column(source, "fundingTime", raw["fundingTime"])).dt.round("s")
    return pd.DataFrame(
        {
            "ts": ts.astype("datetime64[us, UTC]"),
            "symbol": symbol,
            "venue": "binance",
            "instrument": raw["symbol"].astype("str") + "-PERP",
            "funding_rate": numeric_column(source, "fundingRate", raw["fundingRate"]),
            "funding_interval_h": pd.array([pd.NA] * len(raw), dtype="Int64"),
        }
    )


def parse_open_interest_hist(payload: Any, *, source: str, symbol: str, venue: str) -> pd.DataFrame:
    """``/futures/data/openInterestHist?period=1d`` -> ``open_interest_daily`` rows.

    ``timestamp`` may be a number (live API) or a digit string (documentation example).

    Raises:
        PayloadError: not an array of ``{sumOpenInterest, sumOpenInterestValue,
            timestamp}`` objects, or a timestamp not at 00:00 UTC.
    """
    fields = ("sumOpenInterest", "sumOpenInterestValue", "timestamp")
    raw = _records(payload, source, "openInterestHist", fields)
    if raw.empty:
        return empty_table("open_interest_daily")
    ts = from_ms(numeric_column(source, "timestamp", raw["timestamp"]))
    off = ts != ts.dt.normalize()
    if off.any():
        raise drift(
            source, "openInterestHist period=1d", "timestamps at 00:00 UTC", list(ts[off][:2])
        )
    return pd.DataFrame(
        {
            "ts": ts,
            "symbol": symbol,
            "venue": venue,
            "open_interest_usd": numeric_column(
                source, "sumOpenInterestValue", raw["sumOpenInterestValue"]
            ),
            "open_interest_base": numeric_column(source, "sumOpenInterest", raw["sumOpenInterest"]),
            "estimated_leverage_ratio": float("nan"),
        }
    )


def parse_premium_index(payload: Any, *, source: str = "binance_usdm") -> pd.DataFrame:
    """``/fapi/v1/premiumIndex`` (one object, or an array for all symbols) ->
    ``funding_rates_8h`` rows of predicted funding, venue ``binance_predicted``.

    Each row is the latest ``lastFundingRate`` stamped at its ``nextFundingTime`` (the
    settlement it predicts); ``funding_interval_h`` is left empty because the payload
    does not say it. Only USDT-margined perpetuals (``...USDT``) are kept; quarterly
    contracts (``BTCUSDT_250627``) carry no funding and are left out.

    Raises:
        PayloadError: not an object or array of objects with ``symbol``,
            ``lastFundingRate`` and ``nextFundingTime``.
    """
    rows = [payload] if isinstance(payload, dict) else payload
    fields = ("symbol", "lastFundingRate", "nextFundingTime")
    raw = _records(rows, source, "premiumIndex", fields)
    if raw.empty:
        return empty_table("funding_rates_8h")
    perp = raw["symbol"].astype("str").str.fullmatch(r"[A-Z0-9]+USDT")
    perp &= pd.to_numeric(raw["nextFundingTime"], errors="coerce").fillna(0) > 0
    raw = raw.loc[perp].reset_index(drop=True)
    if raw.empty:
        return empty_table("funding_rates_8h")
    return pd.DataFrame(
        {
            "ts": from_ms(numeric_column(source, "nextFundingTime", raw["nextFundingTime"])),
            "symbol": raw["symbol"].astype("str").map(base_symbol),
            "venue": "binance_predicted",
            "instrument": raw["symbol"].astype("str") + "-PERP",
            "funding_rate": numeric_column(source, "lastFundingRate", raw["lastFundingRate"]),
            "funding_interval_h": pd.array([pd.NA] * len(raw), dtype="Int64"),
        }
    )


def parse_ratios(payload: Any, *, source: str, symbol: str, kind: str) -> pd.DataFrame:
    """A long/short ratio endpoint -> columns :data:`RATIO_COLUMNS`.

    Raises:
        PayloadError: not an array of the documented objects.
    """
    if kind == "taker_volume":
        fields = ("buySellRatio", "buyVol", "sellVol", "timestamp")
        ratio, long_share, short_share = "buySellRatio", "buyVol", "sellVol"
    else:
        fields = ("longShortRatio", "longAccount", "shortAccount", "timestamp")
        ratio, long_share, short_share = "longShortRatio", "longAccount", "shortAccount"
    raw = _records(payload, source, RATIO_PATHS[kind], fields)
    if raw.empty:
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in RATIO_COLUMNS})
    return pd.DataFrame(
        {
            "ts": from_ms(numeric_column(source, "timestamp", raw["timestamp"])),
            "symbol": symbol,
            "venue": "binance_usdm_perp",
            "kind": kind,
            "ratio": numeric_column(source, ratio, raw[ratio]),
            "long_share": numeric_column(source, long_share, raw[long_share]),
            "short_share": numeric_column(source, short_share, raw[short_share]),
        }
    )
