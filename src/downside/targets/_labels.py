"""First-passage labels: drawdowns below a threshold and breaks of a support level.

The window of a label at ``asof`` with horizon ``H`` holds the bars lying in
``(asof, asof + H]``: those with ``event_ts >= asof`` and ``available_ts <= asof + H``.
A label is known only when every bar of that window is in the data; otherwise it is NaN
(never guessed), including windows running past the last bar, windows with a missing
bar and as-of times that are not on the bar grid. The lowest price of a bar is its low,
or its close where the low is missing (``min(low, close)``, which also repairs bars
whose low is above their close).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from downside.errors import ConfigError, SchemaError
from downside.targets._validate import (
    Freq,
    _missing,
    bar_us,
    check_fractions,
    check_keys,
    check_prices,
    horizons_us,
    ts_us,
)
from downside.targets._volatility import reference

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.05, 0.10, 0.15, 0.20, 0.30)
"""Drawdown thresholds as fractions of the reference close (0.05 = 5%)."""

DEFAULT_HORIZONS_DAYS: tuple[float, ...] = (1.0, 3.0, 7.0, 14.0, 30.0)
"""Label horizons in days."""


@dataclass(frozen=True, kw_only=True)
class BreakRule:
    """When a support level counts as broken.

    Attributes:
        kind: ``"close"``: a bar closes below the barrier; ``"low"``: a bar's low (its
            close where the low is missing) goes below the barrier.
        buffer: the barrier is ``level * (1 - buffer)``; 0.01 asks for a 1% break.

    Raises:
        ConfigError: unknown ``kind`` or ``buffer`` outside [0, 1).
    """

    kind: Literal["close", "low"] = "close"
    buffer: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in ("close", "low"):
            problems.append(f"kind={self.kind!r} (expected 'close' or 'low')")
        if not (isinstance(self.buffer, int | float) and math.isfinite(self.buffer)) or not (
            0.0 <= self.buffer < 1.0
        ):
            problems.append(f"buffer={self.buffer!r} (expected a fraction in [0, 1))")
        if problems:
            raise ConfigError(
                f"invalid BreakRule: {'; '.join(problems)}; e.g. BreakRule(kind='close', "
                "buffer=0.005)"
            )


DEFAULT_BREAK_RULE = BreakRule()
"""A support breaks when a bar closes below it."""


def _window_minima(
    prices: pd.DataFrame,
    keys: pd.DataFrame,
    horizons: np.ndarray,
    bar: int,
    field: Literal["close", "low"],
) -> np.ndarray:
    """Minimum price over each key's window, shape (rows, horizons); NaN when uncovered.

    ``prices`` and ``keys`` are validated and sorted by symbol; ``keys`` has ``symbol``
    and ``asof``.
    """
    out = np.full((len(keys), horizons.size), np.nan)
    n_bars = (horizons // bar).astype("int64")
    key_symbols = keys["symbol"].to_numpy()
    key_asof = ts_us(keys["asof"])
    for symbol, group in prices.groupby("symbol", sort=True):
        rows = np.flatnonzero(key_symbols == symbol)
        if rows.size == 0:
            continue
        grid = ts_us(group["event_ts"]) // bar
        first = int(grid[0])
        size = int(grid[-1]) - first + 1
        close = group["close"].to_numpy(dtype="float64")
        value = close if field == "close" else np.fmin(group["low"].to_numpy("float64"), close)
        dense = np.full(size, np.inf)
        dense[grid - first] = value
        present = np.zeros(size + 1, dtype="int64")
        present[1 + grid - first] = 1
        counts = np.cumsum(present)
        asof = key_asof[rows]
        aligned = asof % bar == 0
        start = asof // bar - first
        series = pd.Series(dense)
        for h, n in enumerate(n_bars):
            stop = start + n
            ok = aligned & (start >= 0) & (stop <= size)
            idx = np.where(ok, start, 0)
            end = np.where(ok, stop, 0)
            ok &= (counts[end] - counts[idx]) == n
            minima = series.rolling(int(n)).min().to_numpy()
            out[rows[ok], h] = minima[end[ok] - 1]
    return out


def drawdown_labels(
    prices: pd.DataFrame,
    spine: pd.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    horizons_days: Sequence[float] = DEFAULT_HORIZONS_DAYS,
    *,
    freq: Freq = "1d",
    reference_column: str | None = None,
) -> pd.DataFrame:
    """Whether price falls ``threshold`` below the reference close within ``H`` days.

    ``label`` is 1.0 when the lowest price of the bars in ``(asof, asof + H]`` is
    ``<= ref_close * (1 - threshold)``, 0.0 when it is not, NaN when the window is not
    fully covered by bars or no bar is known at ``asof``.

    Args:
        prices: price frame as returned by ``Store.prices(freq, ...)``.
        spine: ``symbol, asof`` rows (UTC); as-of times should lie on the bar grid.
        thresholds: drawdown fractions, e.g. 0.10 for 10%.
        horizons_days: horizons in days, whole numbers of bars (1/24 for one hour).
        freq: bar frequency of ``prices``.
        reference_column: a spine column holding each row's reference close (e.g. the
            latest daily close known at an intraday as-of time, when the window is read
            from hourly bars); None: the close of the latest bar of ``prices`` known at
            ``asof``.

    Returns:
        ``symbol, asof, threshold, horizon_days, ref_close, label, label_end`` with one
        row per spine row, threshold and horizon, sorted in that order;
        ``label_end = asof + H``.

    Raises:
        SchemaError: invalid prices or spine, spine symbols without prices, or no
            ``reference_column`` in the spine.
        ConfigError: invalid thresholds, horizons or frequency.
    """
    bar = bar_us(freq)
    grid = check_fractions(thresholds, "thresholds")
    horizons = horizons_us(horizons_days, bar)
    checked = check_prices(prices, freq)
    if reference_column is not None and reference_column not in spine.columns:
        raise SchemaError(_missing(spine, ["symbol", "asof", reference_column], "spine"))
    keys = check_keys(spine, "spine", known_symbols=sorted(set(checked["symbol"])))
    if reference_column is None:
        ref = reference(checked, keys)["ref_close"].to_numpy(dtype="float64")
    else:
        ref = pd.to_numeric(keys[reference_column]).to_numpy(dtype="float64")
    minima = _window_minima(checked, keys, horizons, bar, "low")
    barrier = ref[:, None, None] * (1.0 - np.asarray(grid))[None, :, None]
    hit = (minima[:, None, :] <= barrier).astype("float64")
    known = np.isfinite(minima[:, None, :]) & np.isfinite(barrier)
    label = np.where(known, hit, np.nan)
    n_rows, n_thr, n_hor = len(keys), len(grid), horizons.size
    asof = np.repeat(keys["asof"].to_numpy(), n_thr * n_hor)
    horizon_td = np.tile(horizons, n_rows * n_thr).astype("timedelta64[us]")
    out = pd.DataFrame(
        {
            "symbol": np.repeat(keys["symbol"].to_numpy(), n_thr * n_hor),
            "asof": asof,
            "threshold": np.tile(np.repeat(np.asarray(grid), n_hor), n_rows),
            "horizon_days": np.tile(np.asarray(horizons_days, dtype="float64"), n_rows * n_thr),
            "ref_close": np.repeat(ref, n_thr * n_hor),
            "label": label.reshape(-1),
        }
    )
    out["symbol"] = out["symbol"].astype("str")
    out["asof"] = pd.to_datetime(out["asof"], utc=True).dt.as_unit("us")
    out["label_end"] = out["asof"] + pd.to_timedelta(horizon_td)
    return out


def support_break_labels(
    prices: pd.DataFrame,
    rows: pd.DataFrame,
    horizons_days: Sequence[float] = DEFAULT_HORIZONS_DAYS,
    rule: BreakRule = DEFAULT_BREAK_RULE,
    *,
    freq: Freq = "1d",
) -> pd.DataFrame:
    """Whether a support level breaks within ``H`` days.

    ``label`` is 1.0 when a bar in ``(asof, asof + H]`` closes (``rule.kind="close"``)
    or trades (``"low"``) strictly below ``level * (1 - rule.buffer)``, 0.0 when none
    does, NaN when the window is not fully covered by bars.

    Args:
        prices: price frame as returned by ``Store.prices(freq, ...)``.
        rows: ``symbol, asof, level`` rows (UTC, finite levels).
        horizons_days: horizons in days, whole numbers of bars.
        rule: the break rule; default a close below the level.
        freq: bar frequency of ``prices``.

    Returns:
        ``symbol, asof, level, horizon_days, label, label_end`` with one row per input
        row and horizon, sorted by symbol, asof, level and horizon.

    Raises:
        SchemaError: invalid prices or rows, or symbols without prices.
        ConfigError: invalid horizons or frequency.
    """
    bar = bar_us(freq)
    horizons = horizons_us(horizons_days, bar)
    checked = check_prices(prices, freq)
    keys = check_keys(rows, "rows", ("level",), known_symbols=sorted(set(checked["symbol"])))
    minima = _window_minima(checked, keys, horizons, bar, rule.kind)
    level = keys["level"].to_numpy(dtype="float64")
    barrier = level * (1.0 - rule.buffer)
    label = np.where(np.isfinite(minima), (minima < barrier[:, None]).astype("float64"), np.nan)
    n_hor = horizons.size
    out = pd.DataFrame(
        {
            "symbol": np.repeat(keys["symbol"].to_numpy(), n_hor),
            "asof": np.repeat(keys["asof"].to_numpy(), n_hor),
            "level": np.repeat(level, n_hor),
            "horizon_days": np.tile(np.asarray(horizons_days, dtype="float64"), len(keys)),
            "label": label.reshape(-1),
        }
    )
    out["symbol"] = out["symbol"].astype("str")
    out["asof"] = pd.to_datetime(out["asof"], utc=True).dt.as_unit("us")
    horizon_td = np.tile(horizons, len(keys)).astype("timedelta64[us]")
    out["label_end"] = out["asof"] + pd.to_timedelta(horizon_td)
    return out
