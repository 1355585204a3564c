"""The frame builder: the one place where model rows are assembled.

:func:`build_frame` turns a :class:`FrameSpec` (the ``[data]``, ``[grid]``,
``[support]`` and ``[features]`` part of a model spec) and a feature store into the rows
a model is trained on, backtested on and answers from: keys, query columns (threshold
or level, horizon, barrier distance in volatility units), the volatility inputs of the
baselines, the point-in-time features and, for training, first-passage labels with
their end times. Training, backtests, the Forecaster and the served MLflow model all
call it; nothing else assembles rows.

Speed. Per feature store (and per store version: an ingest invalidates everything) the
builder keeps in memory the venue-stitched daily prices with their causal volatility
per symbol, and the features of every daily as-of time (00:00 UTC) it has been asked
for, per feature list. A drawdown frame is then stacked in NumPy with binary searches;
other as-of times (hourly) are read from the feature store, which keeps its own tables
in memory. The pandas frame of a result is built only when asked for.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.datasets._frames import support_frame
from downside.errors import (
    EmptyStoreError,
    InsufficientHistoryError,
    ModelSpecError,
    Problem,
    UnknownSymbolError,
)
from downside.features import FeatureStore
from downside.targets import (
    DEFAULT_HORIZONS_DAYS,
    DEFAULT_SUPPORT_CONFIG,
    DEFAULT_THRESHOLDS,
    MIN_VOL_BARS,
    BreakRule,
    SupportConfig,
    drawdown_labels,
    volatility,
)
from downside.vocabulary import US_PER_DAY, family_of, to_us, utc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Target = Literal["drawdown", "support"]

WARMUP_DAYS = 30
"""Days of price history before a symbol's first training as-of time, so its volatility
(``MIN_VOL_BARS`` daily bars) is defined."""

DRAWDOWN_QUERY: tuple[str, ...] = ("threshold", "horizon_days", "z_distance", "sigma_daily")
"""Model inputs of a drawdown frame besides the features."""

VOL_INPUTS: tuple[str, ...] = ("sigma_parkinson", "sigma_implied", "std_ret_1d")
"""Volatility inputs of every frame, for volatility bases and baselines (never tree
splits): Parkinson range volatility, implied volatility per day (DVOL / 100 /
sqrt(365), NaN where there is none or it is stale) and the last daily log return in
units of the EWMA volatility known before it (NaN after a gap in the bars)."""

IMPLIED_VOL_FEATURE = "implied_vol.dvol"
"""The feature whose value (annualized percent) gives ``sigma_implied``."""

SUPPORT_QUERY: tuple[str, ...] = (
    "horizon_days",
    "distance_pct",
    "distance_vol",
    "z_distance",
    "touches",
    "age_days",
    "level_type",
    "sigma_daily",
)
"""Model inputs of a support frame besides the features."""


@dataclass(frozen=True, kw_only=True)
class FrameSpec:
    """What rows to build: the ``[data]``, ``[grid]``, ``[support]`` and ``[features]``
    part of a model spec.

    Attributes:
        target: ``drawdown`` (rows per threshold and horizon) or ``support`` (rows per
            level and horizon).
        symbols: symbols of the default spine (the ones a backtest scores).
        pool_symbols: further symbols whose rows train the model but are never scored
            (pooled training: more assets, more rare events).
        freq: bar frequency of the as-of grid (daily).
        train_hours: UTC hours of the day of the default spine's as-of times, sorted,
            with 0 (daily as-of times) first. Further hours add intraday training rows
            (drawdown target only; backtests score the 00:00 rows alone, see
            :func:`downside.models.daily_rows`).
        start: first as-of day of the default spine (None: as early as history allows).
        end: last as-of day of the default spine (None: the latest known).
        thresholds: drawdown fractions (drawdown target).
        horizons_days: horizons in days.
        break_rule: ``close`` (a daily close below the level) or ``low`` (a low).
        break_buffer: fraction below a level that still counts as holding.
        max_levels: supports kept per as-of time (None: the detector's default).
        families: driver families whose features are inputs (None: every family).
        include: features added by name.
        exclude: features removed by name.
        source: where the spec came from, for messages.
    """

    target: Target
    symbols: tuple[str, ...] = ("BTC", "ETH")
    pool_symbols: tuple[str, ...] = ()
    freq: Literal["1d"] = "1d"
    train_hours: tuple[int, ...] = (0,)
    start: str | None = None
    end: str | None = None
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    horizons_days: tuple[float, ...] = DEFAULT_HORIZONS_DAYS
    break_rule: Literal["close", "low"] = "close"
    break_buffer: float = 0.0
    max_levels: int | None = None
    families: tuple[str, ...] | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    source: str = "<spec>"

    @property
    def query_columns(self) -> tuple[str, ...]:
        """Model inputs besides the features."""
        return DRAWDOWN_QUERY if self.target == "drawdown" else SUPPORT_QUERY

    @property
    def cell_column(self) -> str:
        """The grid column besides the horizon: ``threshold`` or ``level``."""
        return "threshold" if self.target == "drawdown" else "level"

    @property
    def support_config(self) -> SupportConfig:
        if self.max_levels is None:
            return DEFAULT_SUPPORT_CONFIG
        return SupportConfig(max_levels=self.max_levels)

    @property
    def break_rule_(self) -> BreakRule:
        return BreakRule(kind=self.break_rule, buffer=self.break_buffer)


@dataclass(frozen=True, eq=False)
class Frame:
    """Rows built by :func:`build_frame`.

    Attributes:
        spec: what was built.
        keys: the distinct ``symbol, asof`` rows, sorted by ``asof`` then ``symbol``.
        row_key: position in ``keys`` of every frame row.
        key_features: the features at each key (rows of ``keys``, columns
            ``feature_columns``), NaN where missing or stale.
        input_columns: the model's inputs: query columns, then features.
        feature_columns: the feature-store columns among them.
        families: driver family of every input column (:data:`~downside.vocabulary.QUERY`
            for the always-on query columns).
        family_names: the feature repository's families, in its order.
    """

    spec: FrameSpec
    keys: pd.DataFrame
    row_key: IntArray
    key_features: FloatArray
    input_columns: tuple[str, ...]
    feature_columns: tuple[str, ...]
    families: Mapping[str, str]
    family_names: tuple[str, ...]
    columns: Mapping[str, Any] = field(repr=False)
    """Frame columns as arrays (NumPy or pandas extension arrays), in frame order."""

    def __len__(self) -> int:
        return len(self.row_key)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """One row per (symbol, asof, threshold|level, horizon), sorted by ``asof``,
        ``symbol``, then the grid; ``label`` NaN where the outcome is not known yet."""
        return pd.DataFrame(dict(self.columns))

    @property
    def labelled(self) -> pd.DataFrame:
        """Rows whose label is known."""
        frame = self.frame
        return frame[frame["label"].notna()]

    def matrix(self, columns: Sequence[str]) -> FloatArray:
        """Numeric columns as a float64 matrix, without building the pandas frame.

        Raises:
            KeyError: a column is not in the frame.
        """
        out = np.empty((len(self), len(columns)), dtype=np.float64)
        for j, name in enumerate(columns):
            out[:, j] = np.asarray(self.columns[name], dtype=np.float64)
        return out


# ---------------------------------------------------------------------------- features


def select_features(spec: FrameSpec, feature_store: FeatureStore) -> list[str]:
    """Feature names of the spec's families, plus ``include``, minus ``exclude``, in the
    feature repository's order.

    Raises:
        ModelSpecError: an unknown family, or an included or excluded name that is not a
            known feature.
    """
    families = feature_store.families()
    known = tuple(dict.fromkeys(families.values()))
    problems = []
    wanted = known if spec.families is None else spec.families
    bad = [f for f in wanted if f not in known]
    if bad:
        problems.append(
            Problem(
                spec.source,
                "unknown_family",
                len(bad),
                f"features.families names families the feature repository does not "
                f"declare; expected some of {list(known)}",
                examples=bad,
            )
        )
    unknown = [n for n in (*spec.include, *spec.exclude) if n not in families]
    if unknown:
        problems.append(
            Problem(
                spec.source,
                "unknown_feature",
                len(unknown),
                "features.include/exclude name features that do not exist; "
                "see `downside features list`",
                examples=unknown,
            )
        )
    if problems:
        raise ModelSpecError(problems)
    names = [n for n, fam in families.items() if fam in wanted or n in spec.include]
    return [n for n in names if n not in spec.exclude]


def family_names(feature_store: FeatureStore) -> tuple[str, ...]:
    """The feature repository's families, in its order."""
    return tuple(feature_store.family_names())


# ---------------------------------------------------------------------------- caches


@dataclass(frozen=True)
class _Series:
    """One symbol's daily bars: availability times (int64 µs), closes, the EWMA and
    Parkinson volatility known at each bar, and each bar's log return in units of the
    EWMA volatility known before it."""

    available: IntArray
    close: FloatArray
    ewma: FloatArray
    park: FloatArray
    std_ret: FloatArray


@dataclass
class _Prices:
    """Venue-stitched daily bars of one store version, per symbol."""

    frame: pd.DataFrame
    series: dict[str, _Series]


@dataclass
class _Cache:
    key: str
    prices: _Prices | None = None
    hourly: pd.DataFrame | None = None
    daily: dict[tuple[str, ...], dict[str, tuple[IntArray, FloatArray]]] = field(
        default_factory=dict
    )


_CACHES: weakref.WeakKeyDictionary[FeatureStore, _Cache] = weakref.WeakKeyDictionary()


def _cache(feature_store: FeatureStore) -> _Cache:
    key = feature_store.cache_key()
    cache = _CACHES.get(feature_store)
    if cache is None or cache.key != key:
        cache = _CACHES[feature_store] = _Cache(key)
    return cache


def daily_prices(feature_store: FeatureStore) -> pd.DataFrame:
    """Venue-stitched daily bars of every symbol (cached per store version), sorted by
    symbol and time."""
    return _prices(feature_store).frame


def _prices(feature_store: FeatureStore, cache: _Cache | None = None) -> _Prices:
    cache = cache if cache is not None else _cache(feature_store)
    if cache.prices is None:
        store = feature_store.store
        frame = store.prices("1d", feature_store.daily_venues, feature_store.symbols())
        frame = frame.sort_values(["symbol", "event_ts"], kind="stable").reset_index(drop=True)
        vol = volatility(frame)
        symbols = frame["symbol"].astype(str).to_numpy(dtype=object)
        available = to_us(frame["available_ts"])
        close = frame["close"].to_numpy(dtype=np.float64)
        ewma = vol["sigma_ewma"].to_numpy(dtype=np.float64)
        park = vol["sigma_parkinson"].to_numpy(dtype=np.float64)
        event = to_us(frame["event_ts"])
        series = {}
        for symbol in pd.unique(symbols):
            rows = np.flatnonzero(symbols == symbol)
            c, s = close[rows], ewma[rows]
            std_ret = np.full(len(rows), np.nan)
            consecutive = np.diff(event[rows]) == US_PER_DAY
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.log(c[1:] / c[:-1]) / s[:-1]
            std_ret[1:] = np.where(consecutive, ratio, np.nan)
            series[str(symbol)] = _Series(available[rows], c, s, park[rows], std_ret)
        cache.prices = _Prices(frame, series)
    return cache.prices


def _hourly_lows(feature_store: FeatureStore, cache: _Cache) -> pd.DataFrame:
    """Venue-stitched hourly bars that have a low, of every symbol (cached per store
    version; empty when the store has no hourly bars). Close-only bars (Glassnode's BTC
    close) are left out: an hourly close is not the hour's low, so a window that relies
    on one stays unlabelled rather than missing an intra-hour fall."""
    if cache.hourly is None:
        try:
            frame = feature_store.store.prices("1h", feature_store.hourly_venues)
        except EmptyStoreError:
            frame = pd.DataFrame(columns=["symbol", "event_ts", "available_ts", "low", "close"])
        cache.hourly = frame[frame["low"].notna()].reset_index(drop=True)
    return cache.hourly


def _reference(feature_store: FeatureStore, cache: _Cache, keys: pd.DataFrame) -> FloatArray:
    """Rows ``ref_close, sigma_daily, sigma_parkinson, std_ret_1d`` of the latest bar
    known at each key's as-of time (``available_ts <= asof``), shape ``(4, keys)``.

    Raises:
        InsufficientHistoryError: a key has no volatility yet (fewer than
            ``MIN_VOL_BARS`` daily bars known).
    """
    prices = _prices(feature_store, cache)
    asof = to_us(keys["asof"])
    out = np.full((4, len(keys)), np.nan)
    problems: list[str] = []
    symbols = keys["symbol"].to_numpy(dtype=object)
    for symbol in pd.unique(symbols):
        rows = np.flatnonzero(symbols == symbol)
        bars = prices.series[str(symbol)]
        j = np.searchsorted(bars.available, asof[rows], side="right") - 1
        ok = j >= 0
        for k, values in enumerate((bars.close, bars.ewma, bars.park, bars.std_ret)):
            out[k, rows[ok]] = values[j[ok]]
        bad = rows[~(out[1, rows] > 0)]
        if bad.size:
            first = pd.Timestamp(int(asof[bad[0]]), unit="us", tz="UTC")
            problems.append(
                f"{symbol} at {first:%Y-%m-%d %H:%M} UTC"
                + (f" (and {bad.size - 1} more)" if bad.size > 1 else "")
            )
    if problems:
        raise InsufficientHistoryError(
            f"too little price history for {'; '.join(problems)}: a forecast needs the "
            f"volatility of at least {MIN_VOL_BARS} daily bars known at the as-of time; "
            "ask for a later as-of time or ingest earlier bars"
        )
    return out


def _daily_features(
    feature_store: FeatureStore,
    cache: _Cache,
    names: tuple[str, ...],
    symbols: Sequence[str] | None = None,
) -> dict[str, tuple[IntArray, FloatArray]]:
    """The features at every daily as-of time of each of ``symbols`` (None: every
    symbol), from its first known bar to its latest as-of time (read once per symbol and
    feature list, for the symbols asked for only)."""
    daily = cache.daily.setdefault(names, {})
    prices = _prices(feature_store, cache)
    symbols = list(prices.series) if symbols is None else symbols
    todo = [str(s) for s in dict.fromkeys(symbols) if s not in daily and s in prices.series]
    if todo:
        grids = []
        for symbol in todo:
            bars = prices.series[symbol]
            first = pd.Timestamp(int(bars.available[0]), unit="us", tz="UTC").ceil("D")
            grids.append(
                pd.date_range(first, feature_store.latest_asof(symbol), freq="D", unit="us")
            )
        spine = pd.DataFrame(
            {
                "symbol": pd.array(
                    np.repeat(np.array(todo, dtype=object), [len(t) for t in grids]), dtype="str"
                ),
                "asof": pd.DatetimeIndex(
                    np.concatenate([to_us(t) for t in grids]).view("datetime64[us]")
                ).tz_localize("UTC"),
            }
        )
        values = feature_store.get_features(spine, list(names)).iloc[:, 2:].to_numpy(np.float64)
        start = 0
        for symbol, times in zip(todo, grids, strict=True):
            daily[symbol] = (to_us(times), values[start : start + len(times)])
            start += len(times)
    return daily


def _features(
    feature_store: FeatureStore, cache: _Cache, keys: pd.DataFrame, names: Sequence[str]
) -> FloatArray:
    """The features at each key: from the daily cache where the as-of time is a midnight
    it covers, else read from the feature store."""
    out = np.empty((len(keys), len(names)), dtype=np.float64)
    if not names:
        return out
    symbols = keys["symbol"].to_numpy(dtype=object)
    daily = _daily_features(
        feature_store, cache, tuple(names), [str(s) for s in pd.unique(symbols)]
    )
    asof = to_us(keys["asof"])
    todo = np.ones(len(keys), dtype=bool)
    for symbol in pd.unique(symbols):
        cached = daily.get(str(symbol))
        if cached is None:
            continue
        times, values = cached
        rows = np.flatnonzero(symbols == symbol)
        pos = np.searchsorted(times, asof[rows])
        hit = (pos < len(times)) & (times[np.minimum(pos, len(times) - 1)] == asof[rows])
        out[rows[hit]] = values[pos[hit]]
        todo[rows[hit]] = False
    if todo.any():
        missing = keys.iloc[np.flatnonzero(todo)]
        read = feature_store.get_features(missing, list(names))
        out[todo] = read.iloc[:, 2:].to_numpy(dtype=np.float64)
    return out


# ---------------------------------------------------------------------------- spines


def daily_spine(
    feature_store: FeatureStore,
    symbols: Sequence[str],
    *,
    start: Any = None,
    end: Any = None,
) -> pd.DataFrame:
    """Daily as-of times (00:00 UTC) per symbol, from ``WARMUP_DAYS`` after its first
    known bar to the latest time its newest bar is known, within ``[start, end]``.

    Raises:
        UnknownSymbolError: a symbol has no daily prices.
        EmptyStoreError: no as-of time lies in the range.
        InvalidTimeError: ``start`` or ``end`` is not a time.
    """
    prices = _prices(feature_store)
    unknown = [s for s in symbols if s not in prices.series]
    if unknown:
        raise UnknownSymbolError(unknown, sorted(prices.series), "daily prices")
    frames = []
    for symbol in symbols:
        first = pd.Timestamp(int(prices.series[symbol].available[0]), unit="us", tz="UTC")
        first = first.ceil("D")
        first += pd.Timedelta(days=WARMUP_DAYS)
        last = feature_store.latest_asof(symbol)
        lo = max(first, utc(start, "start")) if start is not None else first
        hi = min(last, utc(end, "end")) if end is not None else last
        if hi < lo:
            raise EmptyStoreError(
                f"no as-of times for {symbol} between {start} and {end}: as-of times with "
                f"{WARMUP_DAYS} days of history run from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
            )
        asof = pd.date_range(lo.ceil("D"), hi, freq="D", unit="us")
        frames.append(pd.DataFrame({"symbol": symbol, "asof": asof}))
    return pd.concat(frames, ignore_index=True)


def training_spine(
    feature_store: FeatureStore,
    symbols: Sequence[str],
    hours: Sequence[int] = (0,),
    *,
    start: Any = None,
    end: Any = None,
    source: str = "<spec>",
) -> pd.DataFrame:
    """The default spine: the days of :func:`daily_spine` at each of ``hours`` (UTC
    hours of the day), up to the same last time (the latest as-of time, or ``end``).

    Raises:
        ModelSpecError: ``hours`` are not sorted, unique integers 0..23 with 0.
        UnknownSymbolError: a symbol has no daily prices.
        EmptyStoreError: no as-of time lies in the range.
        InvalidTimeError: ``start`` or ``end`` is not a time.
    """
    hours = tuple(hours)
    daily = daily_spine(feature_store, symbols, start=start, end=end)
    if hours == (0,):
        return daily
    if not (
        all(isinstance(h, int | np.integer) and 0 <= h <= 23 for h in hours)
        and hours
        and hours[0] == 0
        and list(hours) == sorted(set(hours))
    ):
        raise ModelSpecError(
            [
                Problem(
                    source,
                    "invalid_value",
                    1,
                    "data.train_hours: expected sorted, unique UTC hours 0..23 with 0, "
                    f"e.g. (0, 6, 12, 18); got {hours!r}",
                )
            ]
        )
    offsets = np.asarray(hours, dtype=np.int64) * (US_PER_DAY // 24)
    frames = []
    for symbol in symbols:
        days = to_us(daily.loc[daily["symbol"] == symbol, "asof"])
        last = feature_store.latest_asof(symbol)
        hi = to_us(pd.Series([min(last, utc(end, "end")) if end is not None else last]))[0]
        times = (days[:, None] + offsets[None, :]).reshape(-1)
        times = times[times <= hi]
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "asof": pd.DatetimeIndex(times.view("datetime64[us]")).tz_localize("UTC"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def spine_keys(symbols: npt.ArrayLike, asof: pd.DatetimeIndex | pd.Series) -> pd.DataFrame:
    """Distinct ``symbol, asof`` rows sorted by ``asof`` then ``symbol`` (``str`` and
    ``datetime64[us, UTC]`` columns), computed in NumPy (a single query costs
    microseconds, not the milliseconds of pandas' sort and de-duplication)."""
    names = np.asarray(symbols, dtype=object).astype(str)
    times = to_us(pd.DatetimeIndex(asof).tz_convert("UTC") if len(names) else [])
    if len(names) > 1:
        labels, codes = np.unique(names, return_inverse=True)
        order = np.lexsort((codes, times))
        codes, times = codes[order], times[order]
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = (codes[1:] != codes[:-1]) | (times[1:] != times[:-1])
        names, times = labels[codes[keep]], times[keep]
    return pd.DataFrame(
        {
            "symbol": pd.array(names, dtype="str"),
            "asof": pd.DatetimeIndex(times.view("datetime64[us]")).tz_localize("UTC"),
        }
    )


def _keys(spine: pd.DataFrame) -> pd.DataFrame:
    """Distinct ``symbol, asof`` rows of a spine sorted by ``asof`` then ``symbol``."""
    return spine_keys(spine["symbol"].to_numpy(dtype=object), spine["asof"])


# ---------------------------------------------------------------------------- frames


def build_frame(
    spec: FrameSpec,
    feature_store: FeatureStore,
    *,
    asof: pd.DataFrame | Sequence[Any] | pd.DatetimeIndex | None = None,
    symbols: Sequence[str] | None = None,
    thresholds: Sequence[float] | None = None,
    horizons_days: Sequence[float] | None = None,
    levels: pd.DataFrame | None = None,
    features: Sequence[str] | None = None,
    labels: bool = True,
) -> Frame:
    """Build the rows of ``spec`` from the feature store.

    Args:
        spec: target, grid, features and default spine.
        feature_store: point-in-time features and venue-stitched prices.
        asof: a ``symbol, asof`` spine; or as-of times for every one of ``symbols``;
            None: every day of the spec's range (training and backtests).
        symbols: symbols for ``asof`` times or for the default spine (default: the
            spec's).
        thresholds: drawdown fractions (default: the spec's grid).
        horizons_days: horizons (default: the spec's grid).
        levels: support target: user levels as ``symbol, asof, level`` rows; None:
            auto-detected supports.
        features: the feature columns, in order (a trained model passes its own);
            default :func:`select_features`.
        labels: compute ``label`` and ``label_end`` (NaN/NaT where not known yet).

    Returns:
        The :class:`Frame`.

    Raises:
        UnknownSymbolError: a symbol without daily prices.
        InsufficientHistoryError: an as-of time without a defined volatility.
        EmptyStoreError: no as-of time in the spec's range.
        ModelSpecError: unknown families or features in the spec.
        PredictionInputError: a user level at or above the price.
        SchemaError: an invalid spine.
    """
    if spec.target == "support" and spec.train_hours != (0,):
        raise ModelSpecError(
            [
                Problem(
                    spec.source,
                    "invalid_value",
                    1,
                    "data.train_hours: intraday training rows are not supported for the "
                    "support target (levels and break labels come from daily bars); use "
                    f"(0,), got {spec.train_hours!r}",
                )
            ]
        )
    syms = tuple(symbols) if symbols is not None else spec.symbols
    if symbols is None and asof is None:
        syms = (*syms, *[s for s in spec.pool_symbols if s not in syms])
    if isinstance(asof, pd.DataFrame):
        spine = asof
    elif asof is None:
        spine = training_spine(
            feature_store,
            syms,
            spec.train_hours,
            start=spec.start,
            end=spec.end,
            source=spec.source,
        )
    else:
        times = [utc(a, "as-of time") for a in asof]
        spine = pd.DataFrame(
            {
                "symbol": [s for s in syms for _ in times],
                "asof": pd.DatetimeIndex(times * len(syms)).as_unit("us"),
            }
        )
    keys = _keys(spine)
    cache = _cache(feature_store)
    known = set(_prices(feature_store, cache).series)
    unknown = sorted(set(keys["symbol"]) - known)
    if unknown:
        raise UnknownSymbolError(unknown, sorted(known), "daily prices")
    names = list(features) if features is not None else select_features(spec, feature_store)
    vol = _volatility_inputs(feature_store, cache, keys)
    values = _features(feature_store, cache, keys, names)
    horizons = [float(h) for h in (horizons_days or spec.horizons_days)]
    if spec.target == "drawdown":
        grid = [float(t) for t in (thresholds or spec.thresholds)]
        columns, row_key = _drawdown_columns(
            cache,
            feature_store,
            keys,
            values,
            names,
            vol,
            grid,
            horizons,
            labels,
            intraday=spec.train_hours != (0,),
        )
    else:
        prices = _prices(feature_store, cache).frame
        columns, row_key = _support_columns(
            spec, prices, keys, values, names, levels, horizons, labels
        )
        for name in ("sigma_implied", "std_ret_1d"):
            columns[name] = vol[name][row_key]
    query = spec.query_columns
    families = {c: family_of(c) for c in (*query, *VOL_INPUTS, *names)}
    return Frame(
        spec=spec,
        keys=keys,
        row_key=row_key,
        key_features=values,
        input_columns=(*query, *VOL_INPUTS, *names),
        feature_columns=tuple(names),
        families=families,
        family_names=family_names(feature_store),
        columns=columns,
    )


def _volatility_inputs(
    feature_store: FeatureStore, cache: _Cache, keys: pd.DataFrame
) -> dict[str, FloatArray]:
    """Per key: ``ref_close``, ``sigma_daily`` (EWMA), ``sigma_parkinson``,
    ``std_ret_1d`` and ``sigma_implied`` (see :data:`VOL_INPUTS`).

    Raises:
        InsufficientHistoryError: a key without a defined EWMA volatility.
    """
    ref = _reference(feature_store, cache, keys)
    out = {
        "ref_close": ref[0],
        "sigma_daily": ref[1],
        "sigma_parkinson": ref[2],
        "std_ret_1d": ref[3],
        "sigma_implied": np.full(len(keys), np.nan),
    }
    if IMPLIED_VOL_FEATURE in feature_store.families():
        dvol = _features(feature_store, cache, keys, [IMPLIED_VOL_FEATURE])[:, 0]
        out["sigma_implied"] = dvol / 100.0 / np.sqrt(365.0)
    return out


def _drawdown_columns(
    cache: _Cache,
    feature_store: FeatureStore,
    keys: pd.DataFrame,
    values: FloatArray,
    names: Sequence[str],
    vol: Mapping[str, FloatArray],
    thresholds: Sequence[float],
    horizons: Sequence[float],
    labels: bool,
    *,
    intraday: bool = False,
) -> tuple[dict[str, Any], IntArray]:
    """Columns of the stacked (threshold, horizon) rows: keys x thresholds x horizons.

    ``z_distance = ln(1 - threshold) / (sigma_daily * sqrt(horizon_days))``. Labels of
    daily as-of times come from daily bars; with ``intraday``, those of other as-of
    times from hourly bars (see :func:`_intraday_labels`).
    """
    cells = len(thresholds) * len(horizons)
    row_key = np.repeat(np.arange(len(keys), dtype=np.int64), cells)
    threshold = np.tile(
        np.repeat(np.asarray(thresholds, dtype=np.float64), len(horizons)), len(keys)
    )
    horizon = np.tile(np.asarray(horizons, dtype=np.float64), len(thresholds) * len(keys))
    sig = vol["sigma_daily"][row_key]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log1p(-threshold) / (sig * np.sqrt(horizon))
    columns: dict[str, Any] = {
        "symbol": keys["symbol"].array.take(row_key),
        "asof": keys["asof"].array.take(row_key),
        "threshold": threshold,
        "horizon_days": horizon,
        "z_distance": z,
        "sigma_daily": sig,
        **{name: vol[name][row_key] for name in VOL_INPUTS},
        "ref_close": vol["ref_close"][row_key],
    }
    for j, name in enumerate(names):
        columns[name] = values[row_key, j]
    if labels:
        found = drawdown_labels(_prices(feature_store, cache).frame, keys, thresholds, horizons)
        found = found.sort_values(["asof", "symbol"], kind="stable").reset_index(drop=True)
        label = found["label"].to_numpy(dtype=np.float64)
        if intraday:
            label = label.copy()
            _intraday_labels(
                feature_store, cache, keys, vol["ref_close"], thresholds, horizons, label
            )
        columns["label"] = label
        columns["label_end"] = found["label_end"].array
    return columns, row_key


def _intraday_labels(
    feature_store: FeatureStore,
    cache: _Cache,
    keys: pd.DataFrame,
    ref_close: FloatArray,
    thresholds: Sequence[float],
    horizons: Sequence[float],
    label: FloatArray,
) -> None:
    """Write into ``label`` (keys x thresholds x horizons, flat) the labels of the keys
    whose as-of time is not a midnight: 1.0 when the lowest hourly low in
    ``(asof, asof + H]`` is at or below ``ref_close * (1 - threshold)``, with the
    reference the served model answers from at that time (the latest daily close known
    then); NaN when hourly bars with lows do not cover the window."""
    asof = to_us(keys["asof"])
    rows = np.flatnonzero(asof % US_PER_DAY != 0)
    if rows.size == 0:
        return
    per_key = label.reshape(len(keys), -1)
    per_key[rows] = np.nan
    hourly = _hourly_lows(feature_store, cache)
    symbols = keys["symbol"].to_numpy(dtype=object)
    rows = rows[np.isin(symbols[rows].astype(str), hourly["symbol"].astype(str).unique())]
    if rows.size == 0:
        return
    spine = pd.DataFrame(
        {
            "symbol": keys["symbol"].array.take(rows),
            "asof": keys["asof"].array.take(rows),
            "ref_close": ref_close[rows],
        }
    )
    wanted = hourly[hourly["symbol"].isin(set(spine["symbol"]))]
    found = drawdown_labels(
        wanted, spine, thresholds, horizons, freq="1h", reference_column="ref_close"
    )
    found = found.sort_values(["asof", "symbol"], kind="stable")
    per_key[rows] = found["label"].to_numpy(dtype=np.float64).reshape(rows.size, -1)


def _support_columns(
    spec: FrameSpec,
    prices: pd.DataFrame,
    keys: pd.DataFrame,
    values: FloatArray,
    names: Sequence[str],
    levels: pd.DataFrame | None,
    horizons: Sequence[float],
    labels: bool,
) -> tuple[dict[str, Any], IntArray]:
    """Columns of the stacked (level, horizon) rows: detected or given levels per key,
    nearest first, then horizons (see :func:`downside.datasets.support_frame`)."""
    feats = pd.DataFrame(values, columns=list(names))
    feats.insert(0, "asof", keys["asof"].array)
    feats.insert(0, "symbol", keys["symbol"].array)
    given = None
    if levels is not None:
        given = pd.DataFrame(
            {
                "symbol": levels["symbol"].astype("str").to_numpy(),
                "asof": levels["asof"].astype("datetime64[us, UTC]").array,
                "level": levels["level"].to_numpy(dtype=np.float64),
            }
        )
    frame = support_frame(
        feats,
        prices,
        given,
        horizons,
        spec.break_rule_,
        config=spec.support_config,
    )
    frame = frame.sort_values(["asof", "symbol"], kind="stable").reset_index(drop=True)
    lookup = pd.MultiIndex.from_frame(keys[["symbol", "asof"]])
    row_key = np.asarray(
        lookup.get_indexer(pd.MultiIndex.from_frame(frame[["symbol", "asof"]])), dtype=np.int64
    )
    if not labels:
        frame = frame.drop(columns=["label", "label_end"])
    columns = {str(c): frame[c].array for c in frame.columns}
    return columns, row_key
