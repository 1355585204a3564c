"""Causal volatility estimates and the reference price at an as-of time.

Both estimates are exponentially weighted means of per-bar variance estimates, computed
with normalised weights (``adjust=True``): the estimate at a bar is a weighted average of
that bar and earlier bars only, so no seed from the future is needed. They are expressed
in daily units (``sqrt`` of bars per day times the per-bar volatility) and are known at
each bar's ``available_ts``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from downside.errors import ConfigError
from downside.targets._validate import US_PER_DAY, check_keys, check_prices, ts_us

RISKMETRICS_LAMBDA = 0.94
"""RiskMetrics decay of the EWMA variance for daily returns."""

MIN_VOL_BARS = 20
"""Bars of history needed before a volatility estimate is reported (NaN before)."""

_PARKINSON = 1.0 / (4.0 * math.log(2.0))


def _ewm(values: np.ndarray, lam: float, min_bars: int) -> np.ndarray:
    series = pd.Series(values, dtype="float64")
    mean = series.ewm(alpha=1.0 - lam, adjust=True, min_periods=min_bars).mean()
    return mean.to_numpy(dtype="float64")


def _validate_lam(lam: float, min_bars: int) -> None:
    if not (math.isfinite(lam) and 0.0 < lam < 1.0) or min_bars < 1:
        raise ConfigError(
            f"invalid volatility settings lam={lam}, min_bars={min_bars}: expected "
            "0 < lam < 1 (0.94 is RiskMetrics' daily decay) and min_bars >= 1"
        )


def _symbol_vol(group: pd.DataFrame, lam: float, min_bars: int) -> tuple[np.ndarray, np.ndarray]:
    bar = int(group["bar_us"].iloc[0])
    bars_per_day = US_PER_DAY / bar
    close = group["close"].to_numpy(dtype="float64")
    steps = np.diff(ts_us(group["event_ts"])) / bar
    var_ret = np.full(close.size, np.nan)
    var_ret[1:] = np.diff(np.log(close)) ** 2 / steps
    high = group["high"].to_numpy(dtype="float64")
    low = group["low"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        usable = np.isfinite(high) & np.isfinite(low) & (high > 0) & (low > 0)
        var_range = np.where(usable, np.log(high / low) ** 2 * _PARKINSON, np.nan)
    sigma_ewma = np.sqrt(_ewm(var_ret, lam, min_bars) * bars_per_day)
    sigma_park = np.sqrt(_ewm(var_range, lam, min_bars) * bars_per_day)
    return sigma_ewma, sigma_park


def volatility(
    prices: pd.DataFrame, *, lam: float = RISKMETRICS_LAMBDA, min_bars: int = MIN_VOL_BARS
) -> pd.DataFrame:
    """Daily-scale volatility known at each bar's ``available_ts``.

    ``sigma_ewma`` is the EWMA of squared log close-to-close returns (a return spanning
    ``k`` bars because of a missing bar counts as ``r**2 / k``); ``sigma_parkinson`` is
    the EWMA of Parkinson's range estimate ``ln(high/low)**2 / (4 ln 2)`` over bars with a
    high and a low. Both use decay ``lam`` per bar and are scaled to one day (hourly bars:
    times ``sqrt(24)``). Fewer than ``min_bars`` usable bars give NaN.

    Args:
        prices: price frame as returned by ``Store.prices`` (one bar length).
        lam: EWMA decay per bar, RiskMetrics' 0.94 by default.
        min_bars: usable bars needed before an estimate is reported.

    Returns:
        ``symbol, event_ts, available_ts, sigma_ewma, sigma_parkinson``, one row per
        input bar, sorted by symbol and ``event_ts``.

    Raises:
        SchemaError: the price frame is invalid (see ``check_prices``).
        ConfigError: ``lam`` is outside (0, 1) or ``min_bars`` < 1.
    """
    _validate_lam(lam, min_bars)
    checked = check_prices(prices)
    ewma = np.empty(len(checked))
    park = np.empty(len(checked))
    start = 0
    for _, group in checked.groupby("symbol", sort=True):
        stop = start + len(group)
        ewma[start:stop], park[start:stop] = _symbol_vol(group, lam, min_bars)
        start = stop
    out = checked[["symbol", "event_ts", "available_ts"]].copy()
    out["sigma_ewma"] = ewma
    out["sigma_parkinson"] = park
    return out


def reference(
    prices: pd.DataFrame,
    spine: pd.DataFrame,
    *,
    lam: float = RISKMETRICS_LAMBDA,
    min_bars: int = MIN_VOL_BARS,
) -> pd.DataFrame:
    """The last close and volatility known at each as-of time.

    The reference bar of ``asof`` is the latest bar with ``available_ts <= asof`` (for a
    daily forecast at 00:00 UTC of day D: the bar of D-1).

    Args:
        prices: price frame as returned by ``Store.prices``.
        spine: ``symbol, asof`` rows (UTC).
        lam: EWMA decay per bar.
        min_bars: usable bars needed before a volatility is reported.

    Returns:
        ``symbol, asof, ref_close, ref_ts, sigma_ewma, sigma_parkinson`` with one row per
        spine row, sorted by symbol and ``asof``; ``ref_ts`` is the reference bar's close
        time (its ``available_ts``). Values are NaN/NaT before a symbol's first known bar.

    Raises:
        SchemaError: invalid prices or spine, or spine symbols without prices.
        ConfigError: invalid ``lam`` or ``min_bars``.
    """
    checked = check_prices(prices)
    keys = check_keys(spine, "spine", known_symbols=sorted(set(checked["symbol"])))
    vol = volatility(checked, lam=lam, min_bars=min_bars)
    vol["ref_close"] = checked["close"].to_numpy()
    right = vol.rename(columns={"available_ts": "ref_ts"}).sort_values("ref_ts", kind="stable")
    left = keys[["symbol", "asof"]].sort_values("asof", kind="stable")
    joined = pd.merge_asof(
        left,
        right[["symbol", "ref_ts", "ref_close", "sigma_ewma", "sigma_parkinson"]],
        left_on="asof",
        right_on="ref_ts",
        by="symbol",
        direction="backward",
    )
    columns = ["symbol", "asof", "ref_close", "ref_ts", "sigma_ewma", "sigma_parkinson"]
    return joined[columns].sort_values(["symbol", "asof"], kind="stable").reset_index(drop=True)
