"""Kline rows (Binance REST and bulk-archive layout) -> canonical OHLCV frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from downside.sources.live._base import TS_DTYPE, drift, numeric_column

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
BAR_TABLES: dict[str, str] = {"1h": "ohlcv_hourly", "1d": "ohlcv_daily"}
KLINE_FIELDS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)


def epoch_to_ts(values: pd.Series) -> pd.Series:
    """Epoch times in milliseconds or microseconds (Binance spot archives from 2025 on)
    -> ``datetime64[us, UTC]``; the unit is told apart per value by magnitude."""
    numbers = values.astype("int64")
    micros = np.where(numbers >= 10**15, numbers, numbers * 1000)
    return pd.Series(pd.to_datetime(micros, unit="us", utc=True), index=values.index).astype(
        TS_DTYPE
    )


def kline_frame(
    rows: Any,
    *,
    source: str,
    interval: str,
    symbol: str,
    venue: str,
    pair: str,
    now: pd.Timestamp | None,
) -> tuple[pd.DataFrame, int]:
    """Canonical OHLCV rows from kline rows ``[openTime, open, high, low, close, volume,
    closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote, ignore]``.

    Args:
        rows: the decoded JSON array (or CSV rows as lists of strings).
        source: connector name for errors.
        interval: the requested bar length (``1h``, ``1d``, ``5m``, ...).
        symbol, venue, pair: values of the key and ``pair`` columns.
        now: bars whose close time is not before ``now`` are still forming and are
            dropped; ``None`` keeps every bar.

    Returns:
        The frame (columns of ``ohlcv_*``) and how many forming bars were dropped.

    Raises:
        PayloadError: not an array of 12-field rows, non-numeric values, or bars whose
            length is not ``interval`` (schema drift, e.g. 5m bars for a 1h request).
    """
    if interval not in INTERVAL_MS:
        raise ValueError(
            f"unknown kline interval {interval!r}; expected one of {list(INTERVAL_MS)}"
        )
    if not isinstance(rows, list):
        raise drift(source, "klines", "a JSON array of kline rows", rows)
    bad = [row for row in rows if not isinstance(row, Sequence) or len(row) != len(KLINE_FIELDS)]
    if bad:
        raise drift(source, "klines", f"rows of {len(KLINE_FIELDS)} fields", bad[:2])
    if not rows:
        return _empty(), 0
    raw = pd.DataFrame([list(row) for row in rows], columns=list(KLINE_FIELDS))
    open_ms = numeric_column(source, "kline open time", raw["open_time"]).astype("int64")
    close_ms = numeric_column(source, "kline close time", raw["close_time"]).astype("int64")
    scale = pd.Series(np.where(open_ms >= 10**15, 1000, 1), index=open_ms.index)
    length = (close_ms - open_ms) // scale + 1
    expected = INTERVAL_MS[interval]
    wrong = length != expected
    if wrong.any():
        received = sorted({int(v) for v in length[wrong].head(3)})
        raise drift(
            source,
            f"{interval} klines",
            f"bars of {expected} ms (close time - open time + 1)",
            f"bars of {received} ms",
        )
    frame = pd.DataFrame(
        {
            "ts": epoch_to_ts(open_ms),
            "symbol": symbol,
            "venue": venue,
            "pair": pair,
            "open": numeric_column(source, "kline open", raw["open"]),
            "high": numeric_column(source, "kline high", raw["high"]),
            "low": numeric_column(source, "kline low", raw["low"]),
            "close": numeric_column(source, "kline close", raw["close"]),
            "volume_base": numeric_column(source, "kline volume", raw["volume"]),
            "volume_quote": numeric_column(source, "kline quote volume", raw["quote_volume"]),
        }
    )
    dropped = 0
    if now is not None:
        closes = frame["ts"] + pd.Timedelta(milliseconds=expected)
        forming = (closes > now).to_numpy(dtype=bool)
        dropped = int(forming.sum())
        frame = frame.loc[~forming].reset_index(drop=True)
    return frame, dropped


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.Series([], dtype=TS_DTYPE),
            **{c: pd.Series([], dtype="str") for c in ("symbol", "venue", "pair")},
            **{
                c: pd.Series([], dtype="float64")
                for c in ("open", "high", "low", "close", "volume_base", "volume_quote")
            },
        }
    )


def aggregate_bars(frame: pd.DataFrame, freq: str, bar: str) -> tuple[pd.DataFrame, int]:
    """Roll finer bars (``bar``, e.g. ``5m``) up to ``freq`` (``1h`` or ``1d``).

    Only complete buckets are kept: a bucket needs every one of its finer bars (12 five-
    minute bars per hour), so a partial first or last hour is left out rather than
    reported with a wrong open or close.

    Returns:
        The aggregated frame (same columns) and how many finer bars were left out.
    """
    if freq not in BAR_TABLES or INTERVAL_MS[bar] > INTERVAL_MS[freq]:
        raise ValueError(f"cannot aggregate {bar} bars to {freq}; expected a finer bar")
    per_bucket = INTERVAL_MS[freq] // INTERVAL_MS[bar]
    keys = ["symbol", "venue", "pair"]
    work = frame.sort_values([*keys, "ts"], kind="stable").copy()
    work["bucket"] = work["ts"].dt.floor("h" if freq == "1h" else "D")
    grouped = work.groupby([*keys, "bucket"], sort=True)
    out = grouped.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume_base=("volume_base", "sum"),
        volume_quote=("volume_quote", "sum"),
        bars=("ts", "size"),
    ).reset_index()
    complete = out["bars"] == per_bucket
    left_out = int(out.loc[~complete, "bars"].sum())
    out = out.loc[complete].drop(columns="bars").rename(columns={"bucket": "ts"})
    out["ts"] = out["ts"].astype(TS_DTYPE)
    columns = ["ts", *keys, "open", "high", "low", "close", "volume_base", "volume_quote"]
    return out.loc[:, columns].reset_index(drop=True), left_out
