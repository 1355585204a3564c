"""The words every layer shares: column names and families, UTC times and bar units.

Any layer may import this module (like :mod:`downside.errors` and :mod:`downside.config`);
it imports no layer.

Columns and families
    Feature columns are named ``<family>.<name>`` (``leverage.oi_change_7d``); the
    family is the prefix. Which families exist is declared by the feature repository
    (``features/repo.toml``), not here. Frame columns without a prefix are query
    columns: :data:`QUERY` for the always-on ones a user asks about (``threshold``,
    ``horizon_days``), :data:`TECHNICAL` for the price-derived ones (``z_distance``,
    ``sigma_daily``, ``distance_pct``...).

Times
    Every timestamp is timezone-aware UTC with microsecond resolution
    (``datetime64[us, UTC]``). Text or naive times are read as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.errors import InvalidTimeError

QUERY = "query"
"""Group of the always-on query columns in explanations (``threshold``, ``horizon_days``)."""

TECHNICAL = "technical"
"""Family of frame columns derived from prices without a family prefix."""

ALWAYS_ON: tuple[str, ...] = ("threshold", "horizon_days")
"""Query columns a user chooses: never switched off in family explanations."""

FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z0-9_.\-]+$")
"""Feature columns are named ``<family>.<name>``, e.g. ``leverage.oi_change_7d``."""

Freq = Literal["1d", "1h"]
"""Bar frequencies: daily bars (``available_ts = event_ts + 1 day``) or hourly bars."""

US_PER_DAY = 86_400_000_000
"""Microseconds in a day."""

BAR_US: dict[str, int] = {"1d": US_PER_DAY, "1h": US_PER_DAY // 24}
"""Microseconds in one bar of each frequency."""

TIME_UNIT: Literal["us"] = "us"
"""Resolution of every timestamp column."""


__all__ = [
    "ALWAYS_ON",
    "BAR_US",
    "FEATURE_NAME",
    "QUERY",
    "TECHNICAL",
    "TIME_UNIT",
    "US_PER_DAY",
    "Freq",
    "family_of",
    "from_us",
    "is_feature",
    "to_us",
    "utc",
    "utc_day",
    "utc_now",
]


def family_of(column: str, always_on: Collection[str] = ALWAYS_ON) -> str:
    """The family of a frame column: its ``<family>.`` prefix, :data:`QUERY` for an
    always-on query column, else :data:`TECHNICAL`."""
    if "." in column:
        return column.split(".", 1)[0]
    return QUERY if column in always_on else TECHNICAL


def is_feature(column: str) -> bool:
    """Whether a column is a feature-store column (``<family>.<name>``)."""
    return FEATURE_NAME.fullmatch(column) is not None


def utc(value: Any, what: str = "time") -> pd.Timestamp:
    """``value`` as a UTC timestamp in microseconds; text or naive times are read as UTC.

    Args:
        value: a ``Timestamp``, ``datetime``, ``numpy.datetime64`` or text such as
            ``2024-12-09`` or ``2024-12-09T06:00Z``.
        what: what the value is, for the error message (``as-of time``, ``start``).

    Raises:
        InvalidTimeError: the value is not a time, or is missing.
    """
    if isinstance(value, bool) or value is None or (isinstance(value, float) and np.isnan(value)):
        raise InvalidTimeError(what, value)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidTimeError(what, value) from exc
    if pd.isna(ts) or isinstance(value, int | float):
        raise InvalidTimeError(what, value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit(TIME_UNIT)


def utc_day(value: Any, what: str = "date") -> pd.Timestamp:
    """The UTC day (00:00) that ``value`` falls in.

    Raises:
        InvalidTimeError: as :func:`utc`.
    """
    return utc(value, what).floor("D")


def utc_now() -> pd.Timestamp:
    """The current time, UTC, microseconds."""
    return pd.Timestamp.now(tz="UTC").as_unit(TIME_UNIT)


def to_us(values: pd.Series | pd.Index | npt.ArrayLike) -> npt.NDArray[np.int64]:
    """UTC timestamps as int64 microseconds since the epoch."""
    if isinstance(values, pd.Series | pd.Index):
        arr = values.to_numpy(dtype="datetime64[us]")
    else:
        arr = np.asarray(values, dtype="datetime64[us]")
    return np.asarray(arr.view("int64"), dtype=np.int64)


def from_us(values: npt.ArrayLike) -> pd.DatetimeIndex:
    """int64 microseconds since the epoch as a UTC ``DatetimeIndex``."""
    arr = np.asarray(values, dtype=np.int64).view("datetime64[us]")
    return pd.DatetimeIndex(arr).tz_localize("UTC")
