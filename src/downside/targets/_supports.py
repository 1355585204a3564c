"""Support levels known at an as-of time, and the features that describe a level.

Detection uses only bars with ``available_ts <= asof``. Candidate levels come from five
detectors: swing lows (a pivot at bar ``i`` with ``k`` bars each side, visible only once
bar ``i + k`` is known, and kept while no close since has gone below it), N-day lows,
round numbers below the price, moving averages below the price and high-volume price
nodes of a trailing volume profile. Candidates within a small tolerance are merged into
the strongest one (order of :meth:`SupportConfig.level_types`), only levels below the
reference close are kept, and at most ``max_levels`` nearest ones per as-of time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import pandas as pd

from downside.errors import ConfigError, PredictionInputError
from downside.targets._validate import US_PER_DAY, check_keys, check_prices, ts_us
from downside.targets._volatility import volatility

Detector = Literal["swing_low", "low", "ma", "volume_node", "round"]
DETECTORS: tuple[Detector, ...] = ("swing_low", "low", "ma", "volume_node", "round")
LEVEL_COLUMNS = (
    "symbol",
    "asof",
    "level",
    "level_type",
    "ref_close",
    "distance_pct",
    "distance_vol",
    "touches",
    "age_days",
)


@dataclass(frozen=True, kw_only=True)
class SupportConfig:
    """Settings of support detection and level description (windows in days).

    Attributes:
        detectors: which candidate detectors run.
        swing_bars: bars on each side of a swing-low pivot.
        swing_lookback_days: how far back pivots are considered.
        low_windows_days: windows of the N-day lows (``low_30d``, ``low_90d``).
        ma_windows_days: windows of the moving averages of closes (``ma_50d``, ...).
        round_levels: how many round numbers below the price are candidates.
        volume_window_days: trailing window of the volume profile.
        volume_bins: price bins of the volume profile.
        volume_nodes: how many high-volume nodes below the price are candidates.
        merge_tolerance: candidates closer than this fraction are merged.
        touch_tolerance: a bar touches a level when its low is within this fraction.
        touch_lookback_days: window in which touches are counted.
        max_levels: nearest levels kept per as-of time.

    Raises:
        ConfigError: a setting is out of range (all problems listed).
    """

    detectors: tuple[Detector, ...] = DETECTORS
    swing_bars: int = 5
    swing_lookback_days: float = 365.0
    low_windows_days: tuple[float, ...] = (30.0, 90.0)
    ma_windows_days: tuple[float, ...] = (50.0, 200.0)
    round_levels: int = 3
    volume_window_days: float = 90.0
    volume_bins: int = 40
    volume_nodes: int = 3
    merge_tolerance: float = 0.005
    touch_tolerance: float = 0.005
    touch_lookback_days: float = 365.0
    max_levels: int = 8

    def __post_init__(self) -> None:
        problems: list[str] = []
        unknown = [d for d in self.detectors if d not in DETECTORS]
        if unknown or not self.detectors:
            problems.append(
                f"detectors={self.detectors!r} (expected a non-empty subset of {DETECTORS})"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "detectors":
                continue
            items = value if isinstance(value, tuple) else (value,)
            if f.name.endswith("_windows_days") and len(set(items)) != len(items):
                problems.append(f"{f.name}={value!r} (expected distinct windows)")
            for item in items:
                numeric = isinstance(item, int | float) and math.isfinite(item)
                if f.name.endswith("tolerance"):
                    ok = numeric and 0.0 <= item < 0.5
                    expected = "a fraction in [0, 0.5)"
                elif f.name in ("round_levels", "volume_nodes"):
                    ok = isinstance(item, int) and item >= 0
                    expected = "an integer >= 0"
                elif f.name in ("swing_bars", "volume_bins", "max_levels"):
                    ok = isinstance(item, int) and item >= 1
                    expected = "an integer >= 1"
                else:
                    ok = numeric and item >= 1
                    expected = "at least 1 day"
                if not ok:
                    problems.append(f"{f.name}={value!r} (expected {expected})")
                    break
        if problems:
            raise ConfigError(
                f"invalid SupportConfig: {'; '.join(problems)}; see the SupportConfig "
                "docstring for the meaning of each setting"
            )

    def level_types(self) -> tuple[str, ...]:
        """Every level type this config can emit, strongest first, then ``"user"``."""
        lows = tuple(f"low_{w:g}d" for w in sorted(self.low_windows_days, reverse=True))
        mas = tuple(f"ma_{w:g}d" for w in sorted(self.ma_windows_days, reverse=True))
        return ("swing_low", *lows, *mas, "volume_node", "round", "user")


DEFAULT_SUPPORT_CONFIG = SupportConfig()
"""Default detection settings."""


def round_step(price: float) -> float:
    """Spacing of the round numbers watched near ``price`` (about 5-12% apart).

    97,000 -> 5,000; 3,700 -> 250; 15,000 -> 1,000; 0.52 -> 0.05.
    """
    magnitude = 10.0 ** math.floor(math.log10(price))
    ratio = price / magnitude
    if ratio >= 5.0:
        return magnitude / 2.0
    if ratio >= 2.0:
        return magnitude / 4.0
    return magnitude / 10.0


@dataclass
class _Bars:
    """Arrays of one symbol's bars, sorted by time."""

    event: np.ndarray
    avail: np.ndarray
    low: np.ndarray
    high: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    sigma: np.ndarray
    bar_days: float

    @classmethod
    def of(cls, group: pd.DataFrame, sigma: np.ndarray) -> _Bars:
        close = group["close"].to_numpy(dtype="float64")
        volume = (
            group["volume_base"].to_numpy(dtype="float64")
            if "volume_base" in group.columns
            else np.full(close.size, np.nan)
        )
        return cls(
            event=ts_us(group["event_ts"]),
            avail=ts_us(group["available_ts"]),
            low=np.fmin(group["low"].to_numpy(dtype="float64"), close),
            high=np.fmax(group["high"].to_numpy(dtype="float64"), close),
            close=close,
            volume=volume,
            sigma=sigma,
            bar_days=float(group["bar_us"].iloc[0]) / US_PER_DAY,
        )

    def bars(self, days: float) -> int:
        return max(1, round(days / self.bar_days))

    def last_known(self, asof_us: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.avail, asof_us, side="right") - 1


def _describe(
    bars: _Bars, j: int, asof_us: int, levels: np.ndarray, config: SupportConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Touches and age in days of each level from bars ``<= j`` in the touch lookback."""
    lo = max(0, j - bars.bars(config.touch_lookback_days) + 1)
    lows = bars.low[lo : j + 1]
    near = np.abs(lows[None, :] - levels[:, None]) <= config.touch_tolerance * levels[:, None]
    touches = near.sum(axis=1).astype("int64")
    first = np.argmax(near, axis=1)
    age = (asof_us - bars.event[lo + first]) / US_PER_DAY
    return touches, np.where(touches > 0, age, np.nan)


class _Detector:
    """Candidate levels of one symbol; precomputes what does not depend on ``asof``."""

    def __init__(self, bars: _Bars, config: SupportConfig) -> None:
        self.bars = bars
        self.config = config
        types = config.level_types()
        self.rank = {name: i for i, name in enumerate(types)}
        k = config.swing_bars
        low = bars.low
        n = low.size
        if "swing_low" in config.detectors and n >= 2 * k + 1:
            window_min = np.lib.stride_tricks.sliding_window_view(low, k).min(axis=1)
            centre = np.arange(k, n - k)
            is_pivot = (low[centre] < window_min[centre - k]) & (
                low[centre] <= window_min[centre + 1]
            )
            self.pivots = centre[is_pivot]
        else:
            self.pivots = np.empty(0, dtype="int64")
        series_low = pd.Series(low)
        series_close = pd.Series(bars.close)
        self.rolling: list[tuple[int, np.ndarray]] = []
        if "low" in config.detectors:
            for w in config.low_windows_days:
                values = series_low.rolling(bars.bars(w)).min().to_numpy()
                self.rolling.append((self.rank[f"low_{w:g}d"], values))
        if "ma" in config.detectors:
            for w in config.ma_windows_days:
                values = series_close.rolling(bars.bars(w)).mean().to_numpy()
                self.rolling.append((self.rank[f"ma_{w:g}d"], values))

    def _swing(self, j: int) -> list[tuple[float, int]]:
        bars, k = self.bars, self.config.swing_bars
        lo = max(0, j - bars.bars(self.config.swing_lookback_days) + 1)
        left, right = np.searchsorted(self.pivots, [lo, j - k + 1])
        pivots = self.pivots[left:right]
        if pivots.size == 0:
            return []
        start = int(pivots[0])
        after = np.minimum.accumulate(bars.close[start : j + 1][::-1])[::-1]
        level = bars.low[pivots]
        intact = after[pivots - start + 1] >= level * (1.0 - self.config.touch_tolerance)
        return [(float(v), self.rank["swing_low"]) for v in level[intact]]

    def _volume(self, j: int, ref: float) -> list[tuple[float, int]]:
        bars, config = self.bars, self.config
        lo = max(0, j - bars.bars(config.volume_window_days) + 1)
        volume = np.nan_to_num(bars.volume[lo : j + 1], nan=0.0)
        bottom, top = float(bars.low[lo : j + 1].min()), float(bars.high[lo : j + 1].max())
        if volume.sum() <= 0 or top <= bottom:
            return []
        typical = (bars.low[lo : j + 1] + bars.high[lo : j + 1] + bars.close[lo : j + 1]) / 3
        nb = config.volume_bins
        idx = np.clip(((typical - bottom) / (top - bottom) * nb).astype("int64"), 0, nb - 1)
        profile = np.bincount(idx, weights=volume, minlength=nb)
        padded = np.concatenate(([-1.0], profile, [-1.0]))
        peak = (profile >= padded[:-2]) & (profile >= padded[2:]) & (profile >= profile.mean())
        centres = bottom + (np.arange(nb) + 0.5) * (top - bottom) / nb
        chosen = np.flatnonzero(peak & (centres < ref))
        best = chosen[np.argsort(-profile[chosen], kind="stable")][: config.volume_nodes]
        return [(float(centres[b]), self.rank["volume_node"]) for b in best]

    def _round(self, ref: float) -> list[tuple[float, int]]:
        step = round_step(ref)
        top = math.floor(ref / step) * step
        levels = [top - i * step for i in range(self.config.round_levels + 1)]
        below = [v for v in levels if 0 < v < ref][: self.config.round_levels]
        return [(v, self.rank["round"]) for v in below]

    def candidates(self, j: int, ref: float) -> list[tuple[float, int]]:
        """Candidate (level, rank) pairs from bars ``<= j``."""
        found: list[tuple[float, int]] = []
        detectors = self.config.detectors
        if "swing_low" in detectors:
            found += self._swing(j)
        for rank, values in self.rolling:
            if np.isfinite(values[j]):
                found.append((float(values[j]), rank))
        if "volume_node" in detectors:
            found += self._volume(j, ref)
        if "round" in detectors:
            found += self._round(ref)
        return found

    def merge(self, found: list[tuple[float, int]], ref: float) -> list[tuple[float, int]]:
        """Merge candidates within the tolerance; keep the nearest ``max_levels`` below ref."""
        below = sorted((v, r) for v, r in found if 0 < v < ref)
        merged: list[tuple[float, int]] = []
        cluster: list[tuple[float, int]] = []
        for value, rank in below:
            if cluster and value > cluster[0][0] * (1.0 + self.config.merge_tolerance):
                merged.append(min(cluster, key=lambda c: (c[1], -c[0])))
                cluster = []
            cluster.append((value, rank))
        if cluster:
            merged.append(min(cluster, key=lambda c: (c[1], -c[0])))
        merged.sort(key=lambda c: -c[0])
        return merged[: self.config.max_levels]


def _bars_by_symbol(prices: pd.DataFrame) -> dict[str, _Bars]:
    checked = check_prices(prices)
    sigma = volatility(checked)["sigma_ewma"].to_numpy(dtype="float64")
    out: dict[str, _Bars] = {}
    start = 0
    for symbol, group in checked.groupby("symbol", sort=True):
        stop = start + len(group)
        out[str(symbol)] = _Bars.of(group, sigma[start:stop])
        start = stop
    return out


def _frame(records: dict[str, list[object]], types: Sequence[str]) -> pd.DataFrame:
    out = pd.DataFrame(records, columns=list(LEVEL_COLUMNS))
    out["symbol"] = out["symbol"].astype("str")
    out["asof"] = pd.to_datetime(out["asof"], utc=True).dt.as_unit("us")
    for column in ("level", "ref_close", "distance_pct", "distance_vol", "age_days"):
        out[column] = out[column].astype("float64")
    out["touches"] = out["touches"].astype("int64")
    out["level_type"] = pd.Categorical(out["level_type"], categories=list(types))
    return out


def _append(
    records: dict[str, list[object]],
    symbol: str,
    asof: pd.Timestamp,
    bars: _Bars,
    j: int,
    levels: np.ndarray,
    types: Sequence[str],
    config: SupportConfig,
) -> None:
    ref = float(bars.close[j])
    asof_us = int(asof.as_unit("us").asm8.view("int64"))
    touches, age = _describe(bars, j, asof_us, levels, config)
    sigma = float(bars.sigma[j])
    records["symbol"] += [symbol] * levels.size
    records["asof"] += [asof] * levels.size
    records["level"] += levels.tolist()
    records["level_type"] += list(types)
    records["ref_close"] += [ref] * levels.size
    records["distance_pct"] += ((ref - levels) / ref).tolist()
    records["distance_vol"] += (np.log(ref / levels) / sigma).tolist()
    records["touches"] += touches.tolist()
    records["age_days"] += age.tolist()


def detect_supports(
    prices: pd.DataFrame, spine: pd.DataFrame, config: SupportConfig = DEFAULT_SUPPORT_CONFIG
) -> pd.DataFrame:
    """Support levels below the reference close, from bars known at each as-of time.

    Args:
        prices: price frame as returned by ``Store.prices`` (daily bars recommended;
            windows are converted to bars).
        spine: ``symbol, asof`` rows (UTC).
        config: detection settings.

    Returns:
        ``symbol, asof, level, level_type, ref_close, distance_pct, distance_vol,
        touches, age_days``: up to ``config.max_levels`` rows per spine row, nearest
        level first. ``distance_pct = (ref_close - level) / ref_close`` (> 0);
        ``distance_vol = ln(ref_close / level) / sigma_ewma`` (daily volatility units,
        NaN while the volatility is warming up); ``touches`` counts bars in the touch
        lookback whose low came within ``touch_tolerance`` of the level; ``age_days``
        is the time since the first such bar (NaN without touches); ``level_type`` is
        categorical with categories ``config.level_types()``. A spine row with no bar
        known at its as-of time, or no candidate below the price, yields no row.

    Raises:
        SchemaError: invalid prices or spine, or spine symbols without prices.
    """
    by_symbol = _bars_by_symbol(prices)
    keys = check_keys(spine, "spine", known_symbols=sorted(by_symbol))
    types = config.level_types()
    records: dict[str, list[object]] = {c: [] for c in LEVEL_COLUMNS}
    for symbol, group in keys.groupby("symbol", sort=True):
        bars = by_symbol[str(symbol)]
        detector = _Detector(bars, config)
        asofs = group["asof"]
        last = bars.last_known(ts_us(asofs))
        for asof, j in zip(asofs, last, strict=True):
            if j < 0:
                continue
            ref = float(bars.close[j])
            merged = detector.merge(detector.candidates(int(j), ref), ref)
            if not merged:
                continue
            levels = np.array([v for v, _ in merged])
            names = [types[r] for _, r in merged]
            _append(records, str(symbol), asof, bars, int(j), levels, names, config)
    return _frame(records, types)


def level_features(
    prices: pd.DataFrame,
    rows: pd.DataFrame,
    *,
    config: SupportConfig = DEFAULT_SUPPORT_CONFIG,
) -> pd.DataFrame:
    """Describe user-given support levels exactly as detected ones (``level_type="user"``).

    Args:
        prices: price frame as returned by ``Store.prices``.
        rows: ``symbol, asof, level`` rows (UTC); levels must lie below the close known
            at ``asof``.
        config: supplies the touch tolerance and lookback.

    Returns:
        The columns of :func:`detect_supports`, one row per input row, sorted by symbol,
        asof and level descending.

    Raises:
        SchemaError: invalid prices or rows, or symbols without prices.
        PredictionInputError: a level is not positive or not below the reference close,
            or no price is known at its as-of time (all offending rows listed).
    """
    by_symbol = _bars_by_symbol(prices)
    keys = check_keys(rows, "rows", ("level",), known_symbols=sorted(by_symbol))
    keys = keys.sort_values(["symbol", "asof", "level"], ascending=[True, True, False])
    types = config.level_types()
    records: dict[str, list[object]] = {c: [] for c in LEVEL_COLUMNS}
    problems: list[str] = []
    for symbol, group in keys.groupby("symbol", sort=True):
        bars = by_symbol[str(symbol)]
        last = bars.last_known(ts_us(group["asof"]))
        for asof, level, j in zip(group["asof"], group["level"], last, strict=True):
            if j < 0:
                problems.append(f"{symbol} at {asof}: no price is known yet (level {level:g})")
                continue
            ref = float(bars.close[j])
            if not 0 < level < ref:
                problems.append(
                    f"{symbol} at {asof}: level {level:g} is not below the current price "
                    f"{ref:g} (the close known at asof)"
                )
                continue
            _append(records, str(symbol), asof, bars, int(j), np.array([level]), ["user"], config)
    if problems:
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise PredictionInputError(
            f"{len(problems)} support level(s) cannot be described: {shown}{more}; expected "
            "positive levels below the last known close; pass lower levels or a later asof"
        )
    return _frame(records, types)
