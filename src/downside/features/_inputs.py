"""Inputs of features: ``table.column[key=VALUE]`` terms and ``|``-coalesced inputs.

Inputs are ``table.column`` (``ohlcv_daily``/``ohlcv_hourly`` columns come from the
store's venue-stitched prices), optionally with a selector fixing the table's other key
(``macro_rates_daily.value[series=DGS2]``), or several terms joined by ``|``: a daily
series taking, for each UTC day, the day's mean from the first term that has rows that
day (``funding_rates_8h.funding_rate | funding_rates_daily.funding_rate_8h_equiv``), known
once the day has ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from downside.features._windows import parse_window
from downside.sources import TABLES

PRICE_TABLES: dict[str, str] = {"ohlcv_daily": "1d", "ohlcv_hourly": "1h"}
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume_base")
GLOBAL_ENTITY = "*"

_TERM = re.compile(r"^([a-z0-9_]+)\.([a-z0-9_]+)(?:\[([A-Za-z0-9_]+)=([A-Za-z0-9_]+)\])?$")


def entity_column(table: str) -> str | None:
    """The key that identifies the asset (``symbol``, ``asset``), ``None`` for global tables."""
    keys = TABLES[table].keys
    if "asset" in keys:
        return "asset"
    return "symbol" if "symbol" in keys else None


def selector_keys(table: str) -> tuple[str, ...]:
    """Keys a selector must fix: every key but the entity and the venue."""
    return tuple(k for k in TABLES[table].keys if k not in {entity_column(table), "venue"})


def numeric_columns(table: str) -> list[str]:
    """Columns of ``table`` an input may read (the stitched price columns for prices)."""
    if table in PRICE_TABLES:
        return list(PRICE_COLUMNS)
    return [c for c, kind in TABLES[table].columns.items() if kind != "str"]


@dataclass(frozen=True)
class InputTerm:
    """One ``table.column[key=value]`` term of an input.

    Attributes:
        table: canonical table name.
        column: value column.
        selector: ``(key, value)`` pairs fixing the table's non-entity keys.
    """

    table: str
    column: str
    selector: tuple[tuple[str, str], ...] = ()

    @property
    def source_id(self) -> str:
        """The rows the term reads: table plus selector (the column is not part of it)."""
        sel = ",".join(f"{k}={v}" for k, v in self.selector)
        return f"{self.table}[{sel}]" if sel else self.table

    @property
    def is_price(self) -> bool:
        """Whether the term reads venue-stitched prices."""
        return self.table in PRICE_TABLES


@dataclass(frozen=True)
class InputRef:
    """One input of a feature: a term, or several terms coalesced per UTC day.

    Attributes:
        text: the input as written.
        terms: the parsed terms, best first.
    """

    text: str
    terms: tuple[InputTerm, ...]

    @property
    def source_id(self) -> str:
        """Identity of the grid the input lives on (shared by inputs of the same rows)."""
        if len(self.terms) == 1:
            return self.terms[0].source_id
        return "coalesce(" + " | ".join(f"{t.source_id}.{t.column}" for t in self.terms) + ")"

    @property
    def column(self) -> str:
        """Column name of the input in its source frame."""
        return self.terms[0].column if len(self.terms) == 1 else "value"

    @property
    def freq(self) -> pd.Timedelta:
        """Nominal spacing of the input's grid (coalesced inputs are daily)."""
        if len(self.terms) > 1:
            return pd.Timedelta(days=1)
        return parse_window(TABLES[self.terms[0].table].freq, allow_obs=False).delta

    @property
    def is_global(self) -> bool:
        """Whether the input is the same for every symbol (rates, stablecoins)."""
        return entity_column(self.terms[0].table) is None


def parse_input(text: object) -> tuple[InputRef | None, list[str]]:
    """Parse an input string; returns the input (or None) and the problems found."""
    if not isinstance(text, str) or not text.strip():
        return None, [f"expected a string 'table.column', received {text!r}"]
    problems: list[str] = []
    terms: list[InputTerm] = []
    for raw in text.split("|"):
        part = raw.strip()
        match = _TERM.match(part)
        if match is None:
            problems.append(
                f"input term {part!r} is not 'table.column' or 'table.column[key=VALUE]'"
            )
            continue
        table, column, key, value = match.groups()
        if table not in TABLES:
            problems.append(f"unknown table {table!r} in {part!r}; known: {sorted(TABLES)}")
            continue
        numeric = numeric_columns(table)
        if column not in numeric:
            problems.append(
                f"unknown column {table}.{column} in {part!r}; numeric columns of {table}: "
                f"{numeric}"
            )
            continue
        selector = ((key, value),) if key is not None else ()
        needed = selector_keys(table)
        given = tuple(k for k, _ in selector)
        if given != needed:
            problems.append(
                f"input {part!r} must fix the key(s) {list(needed)} of {table} with a selector "
                f"like [{needed[0]}=VALUE]"
                if needed
                else f"input {part!r}: {table} takes no selector, received [{key}=...]"
            )
            continue
        terms.append(InputTerm(table, column, selector))
    if problems:
        return None, problems
    if len(terms) > 1:
        if any(t.is_price for t in terms):
            problems.append(f"input {text!r}: price tables cannot be coalesced with '|'")
        if len({entity_column(t.table) is None for t in terms}) > 1:
            problems.append(f"input {text!r}: cannot coalesce global and per-symbol tables")
        if problems:
            return None, problems
    return InputRef(text, tuple(terms)), []
