"""Input checks shared by the targets and datasets layers.

Every check collects :class:`~downside.errors.Problem` objects and raises one
:class:`~downside.errors.SchemaError` listing all of them. Valid inputs come back as
normalised copies: timestamps ``datetime64[us, UTC]``, symbols ``str``, rows sorted by
``symbol`` and time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from downside.errors import ConfigError, Problem, SchemaError

Freq = Literal["1d", "1h"]
"""Bar frequencies: daily bars (``available_ts = event_ts + 1 day``) or hourly bars."""

US_PER_DAY = 86_400_000_000
BAR_US: dict[str, int] = {"1d": US_PER_DAY, "1h": US_PER_DAY // 24}
PRICE_COLUMNS = ("symbol", "event_ts", "available_ts", "open", "high", "low", "close")
_MAX_EXAMPLES = 3


def ts_us(values: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 microseconds since the epoch."""
    return values.to_numpy(dtype="datetime64[us]").view("int64")


def _examples(frame: pd.DataFrame, mask: np.ndarray, columns: Sequence[str]) -> tuple[str, ...]:
    rows = frame.loc[mask, list(columns)].head(_MAX_EXAMPLES)
    return tuple(
        " ".join(f"{c}={v}" for c, v in zip(columns, row, strict=True))
        for row in rows.itertuples(index=False, name=None)
    )


def _utc(
    frame: pd.DataFrame, column: str, source: str, problems: list[Problem]
) -> pd.Series | None:
    series = frame[column]
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        out: pd.Series = series.dt.tz_convert("UTC").dt.as_unit("us")
        if out.isna().any():
            problems.append(
                Problem(
                    source,
                    "missing_timestamps",
                    int(out.isna().sum()),
                    f"column {column!r} must not contain NaT; drop or fill those rows",
                )
            )
            return None
        return out
    problems.append(
        Problem(
            source,
            "not_utc_timestamps",
            len(series),
            f"column {column!r} must hold timezone-aware UTC datetimes, received dtype "
            f"{series.dtype}; convert with pd.to_datetime(..., utc=True)",
        )
    )
    return None


def _missing(frame: pd.DataFrame, columns: Sequence[str], source: str) -> list[Problem]:
    absent = [c for c in columns if c not in frame.columns]
    if not absent:
        return []
    return [
        Problem(
            source,
            "missing_columns",
            len(absent),
            f"expected columns {', '.join(columns)}; missing {', '.join(absent)}; "
            f"received {', '.join(map(str, frame.columns))}",
        )
    ]


def bar_us(freq: str) -> int:
    """Length of one bar of ``freq`` in microseconds.

    Raises:
        ConfigError: ``freq`` is not ``"1d"`` or ``"1h"``.
    """
    if freq not in BAR_US:
        raise ConfigError(
            f"unknown bar frequency {freq!r}: expected one of {', '.join(BAR_US)}; "
            "pass freq='1d' for daily bars or freq='1h' for hourly bars"
        )
    return BAR_US[freq]


def check_prices(prices: pd.DataFrame, freq: str | None = None) -> pd.DataFrame:
    """Validate a price frame and return a normalised copy sorted by symbol and time.

    Args:
        prices: ``symbol, event_ts, available_ts, open, high, low, close`` (plus any
            other columns, e.g. ``volume_base``, ``venue``), one row per symbol and bar.
        freq: expected bar frequency; None accepts any single bar length.

    Returns:
        The validated copy with an extra integer column ``bar_us`` (bar length in µs).

    Raises:
        SchemaError: missing columns, non-UTC timestamps, duplicate bars, non-positive
            or missing closes, bars whose length differs from ``freq`` or between rows,
            or bars not aligned on the UTC bar grid.
        ConfigError: ``freq`` is unknown.
    """
    source = "prices"
    expected_bar = None if freq is None else bar_us(freq)
    problems = _missing(prices, PRICE_COLUMNS, source)
    if problems:
        raise SchemaError(problems)
    out = prices.copy()
    event = _utc(out, "event_ts", source, problems)
    avail = _utc(out, "available_ts", source, problems)
    if event is None or avail is None:
        raise SchemaError(problems)
    out["event_ts"] = event
    out["available_ts"] = avail
    out["symbol"] = out["symbol"].astype("str")
    for column in ("open", "high", "low", "close", "volume_base"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out = out.sort_values(["symbol", "event_ts"], kind="stable").reset_index(drop=True)
    close = out["close"].to_numpy()
    bad_close = ~(np.isfinite(close) & (close > 0))
    if bad_close.any():
        problems.append(
            Problem(
                source,
                "bad_close",
                int(bad_close.sum()),
                "every bar needs a finite close > 0 (it is the reference price and the "
                "fallback low); drop those bars before calling",
                _examples(out, bad_close, ["symbol", "event_ts", "close"]),
            )
        )
    dup = out.duplicated(["symbol", "event_ts"], keep=False).to_numpy()
    if dup.any():
        problems.append(
            Problem(
                source,
                "duplicate_bars",
                int(dup.sum()),
                "expected one row per symbol and event_ts; de-duplicate (one venue per bar)",
                _examples(out, dup, ["symbol", "event_ts"]),
            )
        )
    ev = ts_us(out["event_ts"])
    av = ts_us(out["available_ts"])
    length = av - ev
    if expected_bar is not None:
        wrong = length != expected_bar
        detail = f"available_ts - event_ts must equal one bar ({freq})"
    else:
        wrong = length != (length[0] if length.size else 0)
        detail = "every bar must have the same length available_ts - event_ts"
    wrong |= length <= 0
    if wrong.any():
        problems.append(
            Problem(
                source,
                "bar_length",
                int(wrong.sum()),
                f"{detail}; received other lengths; pass the matching freq or one frequency",
                _examples(out, wrong, ["symbol", "event_ts", "available_ts"]),
            )
        )
    elif length.size:
        misaligned = ev % int(length[0]) != 0
        if misaligned.any():
            problems.append(
                Problem(
                    source,
                    "bar_alignment",
                    int(misaligned.sum()),
                    "bars must open on the UTC bar grid (00:00 for daily, whole hours for "
                    "hourly); received bars opening in between",
                    _examples(out, misaligned, ["symbol", "event_ts"]),
                )
            )
    if problems:
        raise SchemaError(problems)
    out["bar_us"] = length.astype("int64")
    return out


def check_keys(
    frame: pd.DataFrame,
    source: str,
    extra: Sequence[str] = (),
    *,
    known_symbols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Validate a ``symbol, asof`` keyed frame; return a normalised copy sorted by key.

    Args:
        frame: the spine (or level rows, with ``extra=("level",)``).
        source: name used in problem reports (``spine``, ``rows``, ``features``).
        extra: further key columns that must be present (part of the uniqueness key).
        known_symbols: symbols that have prices; others are reported.

    Raises:
        SchemaError: missing columns, non-UTC or missing ``asof``, duplicate keys, or
            symbols without any price rows.
    """
    keys = ["symbol", "asof", *extra]
    problems = _missing(frame, keys, source)
    if problems:
        raise SchemaError(problems)
    out = frame.copy()
    asof = _utc(out, "asof", source, problems)
    if asof is None:
        raise SchemaError(problems)
    out["asof"] = asof
    out["symbol"] = out["symbol"].astype("str")
    for column in extra:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
        bad = ~np.isfinite(out[column].to_numpy())
        if bad.any():
            problems.append(
                Problem(
                    source,
                    f"bad_{column}",
                    int(bad.sum()),
                    f"column {column!r} must hold finite numbers; fix or drop those rows",
                    _examples(out, bad, keys),
                )
            )
    dup = out.duplicated(keys, keep=False).to_numpy()
    if dup.any():
        problems.append(
            Problem(
                source,
                "duplicate_keys",
                int(dup.sum()),
                f"expected one row per ({', '.join(keys)}); de-duplicate the input",
                _examples(out, dup, keys),
            )
        )
    if known_symbols is not None:
        unknown = ~out["symbol"].isin(list(known_symbols)).to_numpy()
        if unknown.any():
            names = sorted(set(out.loc[unknown, "symbol"]))
            problems.append(
                Problem(
                    source,
                    "unknown_symbols",
                    int(unknown.sum()),
                    f"symbols without any price rows: {', '.join(names)}; expected one of "
                    f"{', '.join(sorted(known_symbols))}; load their prices or drop the rows",
                )
            )
    if problems:
        raise SchemaError(problems)
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def horizons_us(horizons_days: Sequence[float], bar: int) -> np.ndarray:
    """Horizons in microseconds, each a positive whole number of bars.

    Raises:
        ConfigError: a horizon is not finite and positive, is repeated, or is not a
            whole number of bars.
    """
    values = [float(h) for h in horizons_days]
    bad = [
        h
        for h in values
        if not math.isfinite(h)
        or h <= 0
        or abs(h * US_PER_DAY / bar - round(h * US_PER_DAY / bar)) > 1e-6
    ]
    if not values or bad or len(set(values)) != len(values):
        raise ConfigError(
            f"invalid horizons_days {values}: expected distinct positive whole numbers of "
            f"bars ({bar / US_PER_DAY:g} day per bar); bad: {bad}; e.g. (1, 3, 7) for daily "
            "bars or (1/24, 0.5, 1) for hourly bars"
        )
    return np.array([round(h * US_PER_DAY / bar) * bar for h in values], dtype="int64")


def check_fractions(values: Sequence[float], name: str) -> list[float]:
    """Validate a grid of fractions in (0, 1), e.g. drawdown thresholds.

    Raises:
        ConfigError: a value is outside (0, 1), repeated, or the grid is empty.
    """
    out = [float(v) for v in values]
    bad = [v for v in out if not (math.isfinite(v) and 0 < v < 1)]
    if not out or bad or len(set(out)) != len(out):
        raise ConfigError(
            f"invalid {name} {out}: expected distinct fractions in (0, 1) such as 0.05 for "
            f"5%; bad: {bad}"
        )
    return out
