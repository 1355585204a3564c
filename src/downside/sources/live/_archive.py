"""Binance public bulk archive (``data.binance.vision``): daily and monthly zipped CSVs.

Files (``PAIR`` = ``BTCUSDT``; each has a ``.CHECKSUM`` sibling with its SHA-256)::

    data/futures/um/monthly/klines/PAIR/1d/PAIR-1d-2024-01.zip
    data/futures/um/daily/klines/PAIR/1h/PAIR-1h-2024-02-03.zip
    data/spot/monthly/klines/PAIR/1d/PAIR-1d-2024-01.zip
    data/futures/um/monthly/fundingRate/PAIR/PAIR-fundingRate-2024-01.zip
    data/futures/um/daily/metrics/PAIR/PAIR-metrics-2024-02-03.zip

Kline CSVs come with a header (USD-M, recent files) or without one (spot, older files);
both are read. Spot klines are stamped in microseconds from 2025-01-01 on, milliseconds
before; both are read. ``metrics`` rows are not time-sorted; they are sorted here.

A complete month is read from its monthly file; if that is not published yet (HTTP 404)
its days are read from daily files. Days of the running month come from daily files. A
file that is not published (404) gives an empty page with a note, so the update goes on
and picks it up next time. Every downloaded zip is checked against its ``.CHECKSUM``.

Canonical mapping: klines as :mod:`downside.sources.live._binance`; ``fundingRate``
(``calc_time, funding_interval_hours, last_funding_rate``) -> ``funding_rates_8h`` venue
``binance``; ``metrics`` -> ``open_interest_daily`` venue ``binance_usdm_perp``, the day's
last snapshot (``sum_open_interest_value`` in USD, ``sum_open_interest`` in base units).
The long/short ratio columns of ``metrics`` have no canonical table and are not kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pandas as pd

from downside.errors import PayloadError
from downside.sources.live._bars import BAR_TABLES, INTERVAL_MS, epoch_to_ts, kline_frame
from downside.sources.live._base import (
    TS_DTYPE,
    HttpConnector,
    Page,
    Series,
    base_symbol,
    check_symbol,
    check_table,
    drift,
    empty_table,
    numeric_column,
)
from downside.sources.live._http import HttpOptions

ARCHIVE_URL = "https://data.binance.vision"
DEFAULT_SYMBOLS = ("BTC", "ETH")
DEFAULT_START = pd.Timestamp("2020-01-01", tz="UTC")
FUNDING_FIELDS = ("calc_time", "funding_interval_hours", "last_funding_rate")
METRICS_FIELDS = (
    "create_time",
    "symbol",
    "sum_open_interest",
    "sum_open_interest_value",
    "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio",
    "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
)


@dataclass(frozen=True)
class _File:
    """One archive file to fetch: its period and URL path."""

    start: pd.Timestamp
    end: pd.Timestamp
    path: str


def read_zip_csv(blob: bytes, *, source: str, name: str) -> list[list[str]]:
    """The rows of the single CSV inside an archive zip, header included if present.

    Raises:
        PayloadError: not a zip, or not exactly one CSV inside.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            members = [m for m in archive.namelist() if m.endswith(".csv")]
            if len(members) != 1:
                raise drift(source, f"{name}", "a zip holding one CSV", archive.namelist())
            text = archive.read(members[0]).decode("utf-8")
    except zipfile.BadZipFile as exc:
        raise PayloadError(
            f"{source}: {name} is not a valid zip ({exc}); expected the archive file; it may "
            "have been cut off: rerun the update (it resumes)",
            source=source,
        ) from exc
    return [row for row in csv.reader(io.StringIO(text)) if row]


def split_header(rows: list[list[str]]) -> tuple[list[str] | None, list[list[str]]]:
    """(header, data rows): the first row is a header when its first cell is not a number."""
    if not rows:
        return None, []
    first = rows[0][0].strip()
    if first and not first.lstrip("-").replace(".", "", 1).isdigit():
        return [c.strip() for c in rows[0]], rows[1:]
    return None, rows


def parse_archive_klines(
    rows: list[list[str]],
    *,
    source: str,
    interval: str,
    symbol: str,
    venue: str,
    pair: str,
) -> pd.DataFrame:
    """Kline CSV rows (with or without the header) -> canonical OHLCV rows.

    Raises:
        PayloadError: a header other than the documented one, or malformed rows.
    """
    header, data = split_header(rows)
    if header is not None and header[0] != "open_time":
        raise drift(source, "kline CSV header", "open_time,open,high,low,close,...", header)
    frame, _ = kline_frame(
        data, source=source, interval=interval, symbol=symbol, venue=venue, pair=pair, now=None
    )
    return frame


def parse_archive_funding(rows: list[list[str]], *, source: str, symbol: str) -> pd.DataFrame:
    """``fundingRate`` CSV rows -> ``funding_rates_8h`` rows, venue ``binance``.

    Raises:
        PayloadError: a different header or malformed rows.
    """
    header, data = split_header(rows)
    if header is not None and tuple(header) != FUNDING_FIELDS:
        raise drift(source, "fundingRate CSV header", ",".join(FUNDING_FIELDS), header)
    if not data:
        return empty_table("funding_rates_8h")
    if any(len(row) != len(FUNDING_FIELDS) for row in data):
        raise drift(source, "fundingRate CSV", f"rows of {len(FUNDING_FIELDS)} fields", data[:2])
    raw = pd.DataFrame(data, columns=list(FUNDING_FIELDS))
    calc = numeric_column(source, "calc_time", raw["calc_time"]).astype("int64")
    hours = numeric_column(source, "funding_interval_hours", raw["funding_interval_hours"])
    return pd.DataFrame(
        {
            "ts": epoch_to_ts(calc).dt.round("s").astype(TS_DTYPE),
            "symbol": symbol,
            "venue": "binance",
            "instrument": f"{symbol}USDT-PERP",
            "funding_rate": numeric_column(source, "last_funding_rate", raw["last_funding_rate"]),
            "funding_interval_h": hours.round().astype("Int64"),
        }
    )


def parse_archive_metrics(
    rows: list[list[str]], *, source: str, symbol: str, day: pd.Timestamp
) -> pd.DataFrame:
    """``metrics`` CSV rows of one day -> one ``open_interest_daily`` row (the last
    snapshot stamped within ``day``), or none when the day has no snapshot.

    Raises:
        PayloadError: a different header or malformed rows.
    """
    header, data = split_header(rows)
    if header is None or tuple(header) != METRICS_FIELDS:
        raise drift(source, "metrics CSV header", ",".join(METRICS_FIELDS), header)
    if not data:
        return empty_table("open_interest_daily")
    if any(len(row) != len(METRICS_FIELDS) for row in data):
        raise drift(source, "metrics CSV", f"rows of {len(METRICS_FIELDS)} fields", data[:2])
    raw = pd.DataFrame(data, columns=list(METRICS_FIELDS))
    try:
        created = pd.to_datetime(raw["create_time"], format="%Y-%m-%d %H:%M:%S", utc=True)
    except ValueError as exc:
        raise drift(
            source, "metrics create_time", "YYYY-MM-DD HH:MM:SS", raw["create_time"][:2].tolist()
        ) from exc
    raw = raw.assign(created=created).sort_values("created", kind="stable")
    raw = raw.loc[raw["created"].dt.normalize() == day]
    if raw.empty:
        return empty_table("open_interest_daily")
    last = raw.iloc[[-1]]
    return pd.DataFrame(
        {
            "ts": pd.Series([day]).astype(TS_DTYPE),
            "symbol": symbol,
            "venue": "binance_usdm_perp",
            "open_interest_usd": numeric_column(
                source, "sum_open_interest_value", last["sum_open_interest_value"]
            ).to_numpy(),
            "open_interest_base": numeric_column(
                source, "sum_open_interest", last["sum_open_interest"]
            ).to_numpy(),
            "estimated_leverage_ratio": float("nan"),
        }
    )


def _months(start: pd.Timestamp, end: pd.Timestamp) -> Iterator[tuple[pd.Timestamp, pd.Timestamp]]:
    month = start.tz_convert("UTC").normalize().replace(day=1)
    while month < end:
        following = month + pd.DateOffset(months=1)
        yield month, following
        month = following


def _days(start: pd.Timestamp, end: pd.Timestamp) -> Iterator[pd.Timestamp]:
    day = start.normalize()
    while day < end:
        yield day
        day = day + pd.Timedelta(days=1)


class BinanceArchive(HttpConnector):
    """Binance bulk archive: USD-M and spot klines, funding rates, metrics (open interest).

    Args:
        options: HTTP options.
        base_url: the archive root (tests point it at a local server).
        intervals: kline intervals (``1d``, ``1h``).
    """

    name = "binance_archive"
    tables = ("ohlcv_daily", "ohlcv_hourly", "funding_rates_8h", "open_interest_daily")
    default_url = ARCHIVE_URL

    def __init__(
        self,
        options: HttpOptions | None = None,
        *,
        base_url: str | None = None,
        intervals: Sequence[str] = ("1d", "1h"),
    ) -> None:
        super().__init__(options, base_url=base_url)
        self.intervals = tuple(intervals)

    def series(self, symbols: Sequence[str] | None = None) -> list[Series]:
        out = []
        for raw in symbols or DEFAULT_SYMBOLS:
            symbol = check_symbol(base_symbol(raw))
            pair = f"{symbol}USDT"
            for market, venue in (("um", "binance_usdm_perp"), ("spot", "binance_spot")):
                for interval in self.intervals:
                    out.append(
                        Series(
                            self.name,
                            f"{market}_klines_{interval}:{symbol}",
                            BAR_TABLES[interval],
                            {"symbol": symbol, "venue": venue},
                            pd.Timedelta(milliseconds=INTERVAL_MS[interval]),
                            DEFAULT_START,
                            {
                                "kind": "klines",
                                "market": market,
                                "interval": interval,
                                "pair": pair,
                            },
                        )
                    )
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
                    f"metrics:{symbol}",
                    "open_interest_daily",
                    {"symbol": symbol, "venue": "binance_usdm_perp"},
                    pd.Timedelta(days=1),
                    pd.Timestamp("2021-12-01", tz="UTC"),
                    {"kind": "metrics", "pair": pair},
                )
            )
        return out

    # ------------------------------------------------------------------ planning

    def _files(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[_File]:
        kind = series.params["kind"]
        pair = series.params["pair"]
        today = self.options.now().normalize()
        if kind == "metrics":
            for day in _days(start, min(end, today)):
                name = f"{pair}-metrics-{day:%Y-%m-%d}.zip"
                yield _File(
                    day, day + pd.Timedelta(days=1), f"data/futures/um/daily/metrics/{pair}/{name}"
                )
            return
        if kind == "funding":
            for month, following in _months(start, min(end, today)):
                name = f"{pair}-fundingRate-{month:%Y-%m}.zip"
                yield _File(month, following, f"data/futures/um/monthly/fundingRate/{pair}/{name}")
            return
        interval = series.params["interval"]
        root = "data/futures/um" if series.params["market"] == "um" else "data/spot"
        for month, following in _months(start, min(end, today)):
            folder = f"{pair}/{interval}"
            if following <= today:
                name = f"{pair}-{interval}-{month:%Y-%m}.zip"
                yield _File(month, following, f"{root}/monthly/klines/{folder}/{name}")
            else:
                for day in _days(max(start, month), min(end, today)):
                    name = f"{pair}-{interval}-{day:%Y-%m-%d}.zip"
                    yield _File(
                        day, day + pd.Timedelta(days=1), f"{root}/daily/klines/{folder}/{name}"
                    )

    def _daily_fallback(self, series: Series, file: _File, start: pd.Timestamp) -> list[_File]:
        """Daily files replacing a monthly kline file that is not published yet."""
        pair, interval = series.params["pair"], series.params["interval"]
        root = "data/futures/um" if series.params["market"] == "um" else "data/spot"
        return [
            _File(
                day,
                day + pd.Timedelta(days=1),
                f"{root}/daily/klines/{pair}/{interval}/{pair}-{interval}-{day:%Y-%m-%d}.zip",
            )
            for day in _days(max(file.start, start), file.end)
        ]

    # ------------------------------------------------------------------ fetching

    def _download(self, path: str) -> bytes | None:
        response = self.http.get(path, allow_404=True)
        if response is None:
            return None
        blob = response.content
        checksum = self.http.get(path + ".CHECKSUM", allow_404=True)
        if checksum is not None:
            expected = checksum.text.split()[0].strip().lower() if checksum.text.split() else ""
            actual = hashlib.sha256(blob).hexdigest()
            if expected != actual:
                raise PayloadError(
                    f"{self.name}: {path} failed its checksum: expected SHA-256 {expected!r} "
                    f"from {path}.CHECKSUM, computed {actual!r}; the download was corrupted "
                    "or cut off: rerun the update (it resumes; nothing of this file was "
                    "written)",
                    source=self.name,
                    url=f"{self.url}/{path}",
                )
        return blob

    def fetch(self, series: Series, start: pd.Timestamp, end: pd.Timestamp) -> Iterator[Page]:
        kind = series.params["kind"]
        table = series.table
        files = list(self._files(series, start, end))
        queue = list(files)
        first = True
        while queue:
            file = queue.pop(0)
            blob = self._download(file.path)
            if blob is None and kind == "klines" and "/monthly/" in file.path:
                queue = self._daily_fallback(series, file, start) + queue
                continue
            cursor = start if first else max(start, file.start)
            first = False
            next_start = queue[0].start if queue else None
            if blob is None:
                yield Page(
                    series.id,
                    cursor,
                    next_start,
                    {table: empty_table(table)},
                    0,
                    (f"{file.path} is not published (HTTP 404)",),
                )
                continue
            name = file.path.rsplit("/", 1)[-1]
            rows = read_zip_csv(blob, source=self.name, name=name)
            symbol = series.keys["symbol"]
            if kind == "klines":
                um = series.params["market"] == "um"
                frame = parse_archive_klines(
                    rows,
                    source=self.name,
                    interval=series.params["interval"],
                    symbol=symbol,
                    venue=series.keys["venue"],
                    pair=series.params["pair"] + ("-PERP" if um else ""),
                )
            elif kind == "funding":
                frame = parse_archive_funding(rows, source=self.name, symbol=symbol)
            else:
                frame = parse_archive_metrics(rows, source=self.name, symbol=symbol, day=file.start)
            mask = (frame["ts"] >= start) & (frame["ts"] < end)
            outside = int((~mask).sum())
            frame = frame.loc[mask]
            notes = (f"{outside} row(s) outside the requested range left out",) if outside else ()
            yield Page(
                series.id,
                cursor,
                next_start,
                {table: check_table(self.name, table, frame)},
                outside,
                notes,
            )
