"""Volatility histories for the time-series baselines of a backtest.

The HAR and GARCH baselines need more than a frame row: daily log returns up to each
as-of time (GARCH), daily realized variance from hourly bars and what it will be over
the next ``H`` days (HAR's inputs and regression targets). Everything is keyed like the
frames (``symbol, asof``) and uses, for inputs, only bars known at the as-of time; the
targets look forward and end at ``asof + H``, like labels (and are purged like them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.datasets._builder import daily_prices
from downside.features import FeatureStore
from downside.vocabulary import US_PER_DAY, to_us

FloatArray = npt.NDArray[np.float64]

HAR_INPUTS: tuple[str, ...] = (
    "log_rv_1d",
    "log_rv_5d",
    "log_rv_22d",
    "downside_share_5d",
    "leverage",
)
"""HAR regressors (Corsi 2009, with Patton and Sheppard's downside semivariance and a
leverage term): log realized variance per day over the last 1, 5 and 22 days, the share
of the last 5 days' variance from falling hours, and ``min(r, 0)`` of the last daily
return."""

MIN_HOURS = 20
"""Hourly returns a day needs for its realized variance (else the day is missing)."""


@dataclass(frozen=True)
class DailyRealized:
    """One symbol's daily realized variance from hourly bars (UTC days, in order).

    Attributes:
        day: the UTC day, as int64 µs of 00:00.
        rv: sum of squared hourly log returns, scaled to 24 hours.
        rs_neg: the same over falling hours only.
        ret: the day's log return (sum of its hourly log returns).
    """

    day: npt.NDArray[np.int64]
    rv: FloatArray
    rs_neg: FloatArray
    ret: FloatArray


def realized_variance(
    feature_store: FeatureStore, symbols: Sequence[str] | None = None
) -> dict[str, DailyRealized]:
    """Daily realized variance per symbol (of ``symbols``; None: every symbol) from the
    venue-stitched hourly bars.

    A day's value is known once its last hourly bar is (at the next 00:00 UTC).
    """
    hourly = feature_store.store.prices(
        "1h", feature_store.hourly_venues, None if symbols is None else list(symbols)
    )
    out: dict[str, DailyRealized] = {}
    for symbol, bars in hourly.groupby("symbol", sort=True):
        bars = bars.sort_values("event_ts")
        t = to_us(bars["event_ts"])
        close = bars["close"].to_numpy(dtype=np.float64)
        r = np.full(len(close), np.nan)
        consecutive = np.diff(t) == US_PER_DAY // 24
        with np.errstate(divide="ignore", invalid="ignore"):
            r[1:] = np.where(consecutive, np.log(close[1:] / close[:-1]), np.nan)
        frame = pd.DataFrame({"day": t - t % US_PER_DAY, "r": r, "r2": r**2, "n": np.isfinite(r)})
        frame["neg"] = np.where(r < 0, r**2, 0.0)
        daily = frame.groupby("day").agg(
            rv=("r2", "sum"), neg=("neg", "sum"), ret=("r", "sum"), n=("n", "sum")
        )
        daily = daily[daily["n"] >= MIN_HOURS]
        scale = 24.0 / daily["n"].to_numpy(dtype=np.float64)
        out[str(symbol)] = DailyRealized(
            daily.index.to_numpy(dtype=np.int64),
            daily["rv"].to_numpy() * scale,
            daily["neg"].to_numpy() * scale,
            daily["ret"].to_numpy(dtype=np.float64),
        )
    return out


def _per_symbol(
    realized: dict[str, DailyRealized], keys: pd.DataFrame
) -> Iterator[tuple[npt.NDArray[np.intp], pd.DataFrame, npt.NDArray[np.int64]]]:
    """Per symbol with history: the keys' rows, its days on a gapless daily index
    (``rv``, ``rs_neg``, ``ret``; NaN on missing days) and the UTC day of each key's
    as-of time (int64 µs)."""
    symbols = keys["symbol"].to_numpy(dtype=object)
    asof = to_us(keys["asof"])
    for symbol in pd.unique(symbols):
        history = realized.get(str(symbol))
        if history is None:
            continue
        rows = np.flatnonzero(symbols == symbol)
        index = np.arange(history.day[0], history.day[-1] + 1, US_PER_DAY)
        days = pd.DataFrame(
            {"rv": history.rv, "rs_neg": history.rs_neg, "ret": history.ret}, index=history.day
        ).reindex(index)
        yield rows, days, asof[rows] - asof[rows] % US_PER_DAY


def _positions(index: npt.NDArray[np.int64], day: npt.NDArray[np.int64]) -> tuple[Any, Any]:
    """Positions of ``day`` in the sorted ``index`` and whether each is there exactly."""
    pos = np.searchsorted(index, day)
    ok = (pos < len(index)) & (index[np.minimum(pos, len(index) - 1)] == day)
    return pos, ok


def har_inputs(realized: dict[str, DailyRealized], keys: pd.DataFrame) -> FloatArray:
    """HAR regressors at each key (:data:`HAR_INPUTS`, from the days that ended by the
    as-of time), ``(len(keys), len(HAR_INPUTS))``, NaN where history is missing."""
    x = np.full((len(keys), len(HAR_INPUTS)), np.nan)
    for rows, days, today in _per_symbol(realized, keys):
        rv = days["rv"]
        table = np.column_stack(
            [
                np.log(rv),
                np.log(rv.rolling(5, min_periods=4).mean()),
                np.log(rv.rolling(22, min_periods=18).mean()),
                days["rs_neg"].rolling(5, min_periods=4).sum() / rv.rolling(5, min_periods=4).sum(),
                days["ret"].clip(upper=0.0),
            ]
        )
        # the day that ended at the as-of time (known at its 00:00 UTC close)
        pos, ok = _positions(days.index.to_numpy(dtype=np.int64), today - US_PER_DAY)
        x[rows[ok]] = table[pos[ok]]
    return x


def har_targets(
    realized: dict[str, DailyRealized], keys: pd.DataFrame, horizons: Sequence[float]
) -> FloatArray:
    """Log mean daily realized variance over the ``H`` days from each as-of day,
    ``(len(keys), len(horizons))``; NaN where a day is missing (the regression target
    of the HAR baseline, known at ``asof + H`` like a label)."""
    out = np.full((len(keys), len(horizons)), np.nan)
    for rows, days, today in _per_symbol(realized, keys):
        pos, ok = _positions(days.index.to_numpy(dtype=np.int64), today)
        rv = days["rv"]
        for j, h in enumerate(horizons):
            n = max(1, round(h))
            forward = rv[::-1].rolling(n, min_periods=n).mean()[::-1].to_numpy()
            out[rows[ok], j] = np.log(forward[pos[ok]])
    return out


def daily_log_returns(
    feature_store: FeatureStore, symbols: Sequence[str] | None = None
) -> dict[str, pd.Series]:
    """Per symbol (of ``symbols``; None: every symbol), daily log close-to-close returns
    indexed by the time each became known (the bar's ``available_ts``), consecutive bars
    only."""
    prices = daily_prices(feature_store)
    if symbols is not None:
        prices = prices[prices["symbol"].isin(list(symbols))]
    out = {}
    for symbol, bars in prices.groupby("symbol", sort=True):
        close = bars["close"].to_numpy(dtype=np.float64)
        event = to_us(bars["event_ts"])
        r = np.full(len(close), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            r[1:] = np.where(np.diff(event) == US_PER_DAY, np.log(close[1:] / close[:-1]), np.nan)
        index = pd.DatetimeIndex(bars["available_ts"]).as_unit("us")
        out[str(symbol)] = pd.Series(r, index=index).dropna()
    return out
