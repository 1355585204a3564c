"""Volatility histories for the time-series baselines of a backtest.

The HAR and GARCH baselines need more than a frame row: daily log returns up to each
as-of time (GARCH), daily realized variance from hourly bars and what it will be over
the next ``H`` days (HAR's inputs and regression targets). Everything is keyed like the
frames (``symbol, asof``) and uses, for inputs, only bars known at the as-of time; the
targets look forward and end at ``asof + H``, like labels (and are purged like them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def realized_variance(feature_store: FeatureStore) -> dict[str, DailyRealized]:
    """Daily realized variance per symbol from the venue-stitched hourly bars.

    A day's value is known once its last hourly bar is (at the next 00:00 UTC).
    """
    hourly = feature_store.store.prices("1h", feature_store.hourly_venues)
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


def har_inputs(realized: dict[str, DailyRealized], keys: pd.DataFrame) -> FloatArray:
    """HAR regressors at each key (:data:`HAR_INPUTS`, from the days that ended by the
    as-of time), ``(len(keys), len(HAR_INPUTS))``, NaN where history is missing."""
    x = np.full((len(keys), len(HAR_INPUTS)), np.nan)
    symbols = keys["symbol"].to_numpy(dtype=object)
    asof = to_us(keys["asof"])
    for symbol in pd.unique(symbols):
        rows = np.flatnonzero(symbols == symbol)
        history = realized.get(str(symbol))
        if history is None:
            continue
        series = pd.Series(history.rv, index=history.day)
        full = series.reindex(np.arange(history.day[0], history.day[-1] + 1, US_PER_DAY))
        neg = pd.Series(history.rs_neg, index=history.day).reindex(full.index)
        ret = pd.Series(history.ret, index=history.day).reindex(full.index)
        table = pd.DataFrame(
            {
                "log_rv_1d": np.log(full),
                "log_rv_5d": np.log(full.rolling(5, min_periods=4).mean()),
                "log_rv_22d": np.log(full.rolling(22, min_periods=18).mean()),
                "downside_share_5d": neg.rolling(5, min_periods=4).sum()
                / full.rolling(5, min_periods=4).sum(),
                "leverage": ret.clip(upper=0.0),
            }
        )
        # the day that ended at the as-of time (known at its 00:00 UTC close)
        day = (asof[rows] - asof[rows] % US_PER_DAY) - US_PER_DAY
        pos = np.searchsorted(table.index.to_numpy(), day)
        ok = (pos < len(table)) & (table.index.to_numpy()[np.minimum(pos, len(table) - 1)] == day)
        values = table.to_numpy()
        x[rows[ok]] = values[pos[ok]]
    return x


def har_targets(
    realized: dict[str, DailyRealized], keys: pd.DataFrame, horizons: Sequence[float]
) -> FloatArray:
    """Log mean daily realized variance over the ``H`` days from each as-of day,
    ``(len(keys), len(horizons))``; NaN where a day is missing (the regression target
    of the HAR baseline, known at ``asof + H`` like a label)."""
    out = np.full((len(keys), len(horizons)), np.nan)
    symbols = keys["symbol"].to_numpy(dtype=object)
    asof = to_us(keys["asof"])
    for symbol in pd.unique(symbols):
        rows = np.flatnonzero(symbols == symbol)
        history = realized.get(str(symbol))
        if history is None:
            continue
        index = np.arange(history.day[0], history.day[-1] + 1, US_PER_DAY)
        full = pd.Series(history.rv, index=history.day).reindex(index)
        start = asof[rows] - asof[rows] % US_PER_DAY
        pos = np.searchsorted(index, start)
        for j, h in enumerate(horizons):
            n = max(1, round(h))
            forward = full[::-1].rolling(n, min_periods=n).mean()[::-1].to_numpy()
            ok = pos < len(index)
            out[rows[ok], j] = np.log(forward[pos[ok]])
    return out


def daily_log_returns(feature_store: FeatureStore) -> dict[str, pd.Series]:
    """Per symbol, daily log close-to-close returns indexed by the time each became known
    (the bar's ``available_ts``), consecutive bars only."""
    prices = daily_prices(feature_store)
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
