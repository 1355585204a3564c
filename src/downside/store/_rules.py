"""Publication rules: when each raw value became publicly known (``available_ts``).

A :class:`PublicationRule` maps an event time to an availability time; a
:class:`PublicationRules` picks the rule per table and, for ``macro_rates_daily``, per
series. The defaults follow the publication notes of the shared data README:

=============================  =============================================================
table / series                 available_ts
=============================  =============================================================
ohlcv_hourly                   bar close, ``ts + 1h``
ohlcv_daily and daily          end of the UTC day, ``ts + 1d`` (open interest, liquidations,
aggregates                     daily funding, stablecoin supply, Coinbase premium, implied
                               volatility: the DVOL close of D is known at D+1 00:00 UTC)
funding_rates_8h               at settlement, ``ts``
etf_flows_daily                trading day D -> D+1 at ``etf_hour_utc`` (default 12:00 UTC)
FRED series (DFF, DGS*, ...)   next US business day after D at 20:00 UTC
DTWEXBGS                       Monday after its week (next US business day if that Monday
                               is a federal holiday) at 20:00 UTC
DXY_*                          D+1 00:00 UTC
JGB_*                          next weekday after D at 06:00 UTC (a safe proxy for the
                               next Tokyo business day; the MOF publishes on D itself)
any other macro series         next US business day after D at 20:00 UTC (conservative:
                               the latest of the daily FRED releases)
forecast_ledger (a record)     when recorded: the store's clock at the write (not
                               configurable; see :mod:`downside.store._tables`)
=============================  =============================================================

US business days are weekdays minus the holidays of pandas' ``USFederalHolidayCalendar``.
Every rule is monotone: a later event is never available earlier than an earlier one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Final, Literal

import numpy as np
import pandas as pd
from pandas.tseries.holiday import USFederalHolidayCalendar

from downside.errors import ConfigError
from downside.sources import TABLES
from downside.store._tables import RECORD_TABLES

RuleKind = Literal["delay", "next_day", "next_week", "recorded"]
Calendar = Literal["calendar", "weekdays", "us_business"]

_TS_DTYPE: Final = "datetime64[us, UTC]"
_HOLIDAY_RANGE = ("1990-01-01", "2100-12-31")


@lru_cache(maxsize=1)
def _us_holidays() -> np.ndarray:
    """US federal holidays (observed dates) as ``datetime64[D]``, for ``np.busday_*``."""
    days = USFederalHolidayCalendar().holidays(*_HOLIDAY_RANGE)
    return np.asarray(days.to_numpy().astype("datetime64[D]"))


def _holidays(calendar: Calendar) -> np.ndarray:
    if calendar == "us_business":
        return _us_holidays()
    return np.array([], dtype="datetime64[D]")


@dataclass(frozen=True, kw_only=True)
class PublicationRule:
    """How one series becomes known.

    Attributes:
        kind: ``delay``: ``available = event + delay``. ``next_day``: the first day of
            ``calendar`` strictly after the event's UTC date, at ``hour_utc``.
            ``next_week``: the Monday after the event's ISO week, rolled forward to a day
            of ``calendar``, at ``hour_utc``. ``recorded``: the time the row is written
            (the store's clock), for the tables downside records itself.
        delay: offset for ``kind="delay"``; must be >= 0.
        calendar: ``calendar`` (every day), ``weekdays`` (Mon-Fri) or ``us_business``
            (weekdays minus US federal holidays).
        hour_utc: hour of the publication day, 0..23.

    Raises:
        ConfigError: a negative delay or an hour outside 0..23.
    """

    kind: RuleKind
    delay: timedelta = timedelta(0)
    calendar: Calendar = "calendar"
    hour_utc: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in ("delay", "next_day", "next_week", "recorded"):
            problems.append(
                f"kind must be delay, next_day, next_week or recorded, got {self.kind!r}"
            )
        if self.delay < timedelta(0):
            problems.append(f"delay must be >= 0, got {self.delay}")
        if self.calendar not in ("calendar", "weekdays", "us_business"):
            problems.append(
                f"calendar must be calendar, weekdays or us_business, got {self.calendar!r}"
            )
        if not 0 <= self.hour_utc <= 23:
            problems.append(f"hour_utc must be 0..23, got {self.hour_utc}")
        if problems:
            raise ConfigError(
                "invalid publication rule: " + "; ".join(problems) + "; fix the rule definition"
            )

    @classmethod
    def after(cls, delay: timedelta) -> PublicationRule:
        """A fixed delay after the event (``timedelta(0)`` = known at the event)."""
        return cls(kind="delay", delay=delay)

    @classmethod
    def next_day(cls, calendar: Calendar, hour_utc: int) -> PublicationRule:
        """The first ``calendar`` day strictly after the event's date, at ``hour_utc``."""
        return cls(kind="next_day", calendar=calendar, hour_utc=hour_utc)

    @classmethod
    def next_week(cls, calendar: Calendar, hour_utc: int) -> PublicationRule:
        """The Monday after the event's week (rolled to a ``calendar`` day), at ``hour_utc``."""
        return cls(kind="next_week", calendar=calendar, hour_utc=hour_utc)

    @classmethod
    def recorded(cls) -> PublicationRule:
        """Known when written: the store's clock at the write (records such as the ledger)."""
        return cls(kind="recorded")

    def describe(self) -> str:
        """One line for listings, e.g. ``next us_business day 20:00 UTC``."""
        if self.kind == "recorded":
            return "when recorded (the store's clock at the write)"
        if self.kind == "delay":
            return f"event_ts + {pd.Timedelta(self.delay)}"
        unit = "day" if self.kind == "next_day" else "week's Monday"
        return f"next {self.calendar} {unit} {self.hour_utc:02d}:00 UTC"

    def apply(self, event_ts: pd.Series, now: pd.Timestamp | None = None) -> pd.Series:
        """Availability times of ``event_ts`` (tz-aware UTC) as ``datetime64[us, UTC]``;
        ``now`` is the write time of a ``recorded`` rule (default: the wall clock)."""
        ts = event_ts.astype(_TS_DTYPE)
        if self.kind == "recorded":
            clock = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
            return pd.Series(clock.tz_convert("UTC"), index=event_ts.index).astype(_TS_DTYPE)
        if self.kind == "delay":
            return ts + pd.Timedelta(self.delay)
        days = ts.dt.tz_localize(None).to_numpy().astype("datetime64[D]")
        weekmask = "1111111" if self.calendar == "calendar" else "1111100"
        holidays = _holidays(self.calendar)
        if self.kind == "next_day":
            published = np.busday_offset(
                days, 1, roll="backward", weekmask=weekmask, holidays=holidays
            )
        else:
            weekday = (days.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
            monday = days - weekday.astype("timedelta64[D]") + np.timedelta64(7, "D")
            published = np.busday_offset(
                monday, 0, roll="forward", weekmask=weekmask, holidays=holidays
            )
        stamps = published.astype("datetime64[us]") + np.timedelta64(self.hour_utc, "h")
        out: pd.Series = pd.Series(stamps, index=event_ts.index).dt.tz_localize("UTC")
        return out.astype(_TS_DTYPE)


RECORD_RULE = PublicationRule.recorded()
"""The rule of every record table (:data:`downside.store._tables.RECORD_TABLES`)."""

_DAILY_CLOSE = PublicationRule.after(timedelta(days=1))
_FRED = PublicationRule.next_day("us_business", 20)


def _default_tables(etf_hour_utc: int) -> dict[str, PublicationRule]:
    return {
        "ohlcv_hourly": PublicationRule.after(timedelta(hours=1)),
        "ohlcv_daily": _DAILY_CLOSE,
        "funding_rates_8h": PublicationRule.after(timedelta(0)),
        "funding_rates_daily": _DAILY_CLOSE,
        "open_interest_daily": _DAILY_CLOSE,
        "liquidations_daily": _DAILY_CLOSE,
        "stablecoin_supply_daily": _DAILY_CLOSE,
        "coinbase_premium_daily": _DAILY_CLOSE,
        "implied_vol_daily": _DAILY_CLOSE,
        "etf_flows_daily": PublicationRule.next_day("calendar", etf_hour_utc),
        "macro_rates_daily": _FRED,
    }


def _default_macro_series() -> dict[str, PublicationRule]:
    return {
        "DTWEXBGS": PublicationRule.next_week("us_business", 20),
        "DXY_*": PublicationRule.after(timedelta(days=1)),
        "JGB_*": PublicationRule.next_day("weekdays", 6),
    }


@dataclass(frozen=True, kw_only=True)
class PublicationRules:
    """Publication rule per table, and per series for ``macro_rates_daily``.

    Build the defaults with :meth:`default`; replace entries with
    :func:`dataclasses.replace`.

    Attributes:
        tables: rule per table name; every table of ``downside.sources.TABLES`` needs one.
            For ``macro_rates_daily`` it is the rule of series not matched below. The
            record tables (the forecast ledger) always use :data:`RECORD_RULE`.
        macro_series: rule per macro series, keyed by exact name or ``fnmatch`` pattern
            (``DXY_*``); an exact name wins over a pattern, patterns are tried in order.

    Raises:
        ConfigError: a table is unknown or has no rule.
    """

    tables: Mapping[str, PublicationRule] = field(default_factory=lambda: _default_tables(12))
    macro_series: Mapping[str, PublicationRule] = field(default_factory=_default_macro_series)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.tables) - set(TABLES))
        missing = sorted(set(TABLES) - set(self.tables))
        problems = []
        if unknown:
            problems.append(f"unknown tables {unknown} (expected names from {sorted(TABLES)})")
        if missing:
            problems.append(f"no rule for tables {missing}")
        if problems:
            raise ConfigError(
                "invalid publication rules: " + "; ".join(problems) + "; give one rule per table"
            )

    @classmethod
    def default(cls, *, etf_hour_utc: int = 12) -> PublicationRules:
        """The documented defaults; ETF flows of day D are known at D+1 ``etf_hour_utc``.

        Raises:
            ConfigError: ``etf_hour_utc`` is outside 0..23.
        """
        return cls(tables=_default_tables(etf_hour_utc), macro_series=_default_macro_series())

    def rule_for(self, table: str, series: str | None = None) -> PublicationRule:
        """The rule of ``table`` (and of macro ``series`` when given).

        Raises:
            ConfigError: ``table`` has no rule.
        """
        if table in RECORD_TABLES:
            return RECORD_RULE
        if table not in self.tables:
            raise ConfigError(
                f"no publication rule for table {table!r}; expected one of {sorted(self.tables)}"
            )
        if table == "macro_rates_daily" and series is not None:
            if series in self.macro_series:
                return self.macro_series[series]
            for pattern, rule in self.macro_series.items():
                if fnmatch.fnmatchcase(series, pattern):
                    return rule
        return self.tables[table]

    def available_ts(
        self, table: str, frame: pd.DataFrame, *, now: pd.Timestamp | None = None
    ) -> pd.Series:
        """``available_ts`` for every row of ``frame`` (columns ``event_ts`` and, for macro,
        ``series``), aligned on its index; ``now`` is the write time of record tables
        (default: the wall clock).

        Raises:
            ConfigError: ``table`` has no rule.
        """
        if table in RECORD_TABLES:
            return RECORD_RULE.apply(frame["event_ts"], now)
        if table != "macro_rates_daily":
            return self.rule_for(table).apply(frame["event_ts"])
        out = pd.Series(pd.NaT, index=frame.index, dtype=_TS_DTYPE)
        for series, rows in frame.groupby("series", sort=False).groups.items():
            rule = self.rule_for(table, str(series))
            out.loc[rows] = rule.apply(frame.loc[rows, "event_ts"])
        return out
