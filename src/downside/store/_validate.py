"""Validation of tables against their schema (the raw tables of ``downside.sources.TABLES``
and the store's record tables) and their normalisation.

:func:`validate` collects every broken rule of one table as :class:`~downside.errors.Problem`
objects and never raises, so the store can report all problems of all tables at once.
:func:`normalize` turns a valid table into the stored layout: ``event_ts`` (the source
``ts``, ``datetime64[us, UTC]``), the keys, then the value columns, with canonical dtypes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from downside.errors import InvalidNameError, Problem
from downside.sources import TableSpec
from downside.store._tables import STORE_TABLES

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
"""Symbols, venues, series, tickers, assets, stablecoins and index names become file and
table names."""

NAME_COLUMNS = frozenset({"symbol", "venue", "series", "ticker", "asset", "stablecoin", "index"})
SYMBOL_COLUMNS = ("symbol", "asset", "stablecoin", "ticker")
"""Key columns naming assets; their values must be upper case (``BTC``), never normalised
silently: ``btc`` would be stored as a second symbol that no query finds."""
TS_DTYPE: Final = "datetime64[us, UTC]"
DEFAULT_OHLC_TOLERANCE = 0.005
TS_FLOOR: Final = pd.Timestamp("2009-01-03", tz="UTC")
"""The first Bitcoin block: no crypto table has an earlier event time."""
TS_FLOORS: Final[Mapping[str, pd.Timestamp]] = {
    "macro_rates_daily": pd.Timestamp("1900-01-01", tz="UTC"),
}
"""Per-table exceptions to :data:`TS_FLOOR` (FRED rates reach back to 1954)."""
MAX_MAGNITUDE: Final = 1e15
"""Largest absolute value of any numeric column (volumes in base units of cheap coins
reach 1e10; USD amounts 1e12)."""
PLAUSIBLE_BOUNDS: Final[Mapping[str, tuple[float, float]]] = {
    "funding_rate": (-1.0, 1.0),
    "funding_rate_8h_equiv": (-1.0, 1.0),
    "funding_interval_h": (1.0, 24.0),
    "coinbase_premium_index_pct": (-100.0, 100.0),
}
"""Store-side plausibility bounds by column, inclusive, beside the schema's own
:attr:`~downside.sources.TableSpec.bounds` (which win where both name a column)."""
BAR_LENGTHS: Final[Mapping[str, pd.Timedelta]] = {
    "1h": pd.Timedelta(hours=1),
    "8h": pd.Timedelta(hours=8),
    "1d": pd.Timedelta(days=1),
}
_NAME_RE = re.compile(NAME_PATTERN)
_MAX_EXAMPLES = 3


def check_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid ``kind`` name.

    Raises:
        InvalidNameError: ``value`` does not match :data:`NAME_PATTERN`.
    """
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidNameError(kind, value, f"a name matching {NAME_PATTERN}")
    return value


@dataclass
class Findings:
    """Problems (reject the ingest) and warnings (kept rows worth a look) of one table."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def _render_rows(
    frame: pd.DataFrame, mask: pd.Series, columns: Iterable[str], *, numbered: bool = False
) -> list[str]:
    """A few rows under ``mask`` as ``col=value`` text; ``numbered`` prefixes each with its
    row number in the table (1 = the first data row)."""
    cols = [c for c in columns if c in frame.columns]
    rows = frame.loc[mask, cols].head(_MAX_EXAMPLES)
    numbers = np.flatnonzero(np.asarray(mask, dtype=bool))[:_MAX_EXAMPLES] + 1
    return [
        (f"row {number}: " if numbered else "")
        + " ".join(f"{col}={value}" for col, value in zip(cols, row, strict=True))
        for number, row in zip(numbers, rows.itertuples(index=False, name=None), strict=True)
    ]


def _is_all_null(series: pd.Series) -> bool:
    return bool(series.isna().all())


def _dtype_problem(spec: TableSpec, column: str, series: pd.Series, source: str) -> Problem | None:
    kind = spec.columns.get(column, "str")
    if _is_all_null(series):
        return None
    if kind in ("float", "int"):
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if not numeric:
            bad = series[pd.to_numeric(series, errors="coerce").isna() & series.notna()]
            return Problem(
                source,
                "non_numeric_column",
                int(bad.size) or 1,
                f"column {column!r} must be numeric ({kind}), received dtype {series.dtype}; "
                "convert it with pd.to_numeric or fix the offending cells",
                tuple(repr(v) for v in bad.head(_MAX_EXAMPLES)),
            )
        if kind == "int" and not pd.api.types.is_integer_dtype(series):
            values = series.dropna().to_numpy(dtype="float64")
            fractional = values[values != np.round(values)]
            if fractional.size:
                return Problem(
                    source,
                    "non_integer_values",
                    int(fractional.size),
                    f"column {column!r} must hold whole numbers, received fractions",
                    tuple(repr(float(v)) for v in fractional[:_MAX_EXAMPLES]),
                )
        return None
    if pd.api.types.is_string_dtype(series):
        return None
    bad = series[series.notna() & ~series.map(lambda v: isinstance(v, str))]
    if bad.size:
        return Problem(
            source,
            "non_string_column",
            int(bad.size),
            f"column {column!r} must hold text, received dtype {series.dtype}; "
            "cast it with .astype('str')",
            tuple(repr(v) for v in bad.head(_MAX_EXAMPLES)),
        )
    return None


def _ts_problem(series: pd.Series, source: str) -> Problem | None:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return None
    if pd.api.types.is_datetime64_dtype(series):
        return Problem(
            source,
            "naive_timestamps",
            int(series.size),
            "column 'ts' must be timezone-aware UTC, received naive timestamps; "
            "if they are UTC, use frame['ts'] = frame['ts'].dt.tz_localize('UTC'), "
            "in CSV write offsets such as 2024-01-01T00:00:00Z",
            tuple(str(v) for v in series.head(_MAX_EXAMPLES)),
        )
    return Problem(
        source,
        "ts_not_datetime",
        int(series.size),
        f"column 'ts' must be timezone-aware UTC timestamps, received dtype {series.dtype}; "
        "parse it with pd.to_datetime(frame['ts'], utc=True) when the offsets are known",
        tuple(repr(v) for v in series.head(_MAX_EXAMPLES)),
    )


def validate(
    table: str,
    frame: pd.DataFrame,
    source: str,
    *,
    ohlc_tolerance: float = DEFAULT_OHLC_TOLERANCE,
    now: pd.Timestamp | None = None,
) -> Findings:
    """Check ``frame`` against the canonical schema of ``table``; never raises.

    Rules: ``unknown_table``, ``missing_columns``, ``unknown_columns``, ``naive_timestamps``,
    ``ts_not_datetime``, ``non_numeric_column``, ``non_integer_values``,
    ``non_string_column``, ``null_values``, ``invalid_names``, ``non_canonical_symbols``
    (a value of :data:`SYMBOL_COLUMNS` that is not upper case), ``duplicate_keys``,
    ``misaligned_ts``, ``ts_out_of_range`` (before :data:`TS_FLOOR`, or later than
    ``now`` plus one bar), ``non_finite_values`` (``inf`` in a numeric column),
    ``out_of_range`` (outside :attr:`~downside.sources.TableSpec.bounds`,
    :data:`PLAUSIBLE_BOUNDS` or +-:data:`MAX_MAGNITUDE`), ``non_positive_prices``,
    ``negative_values``, ``high_below_low``, ``open_close_outside_range``. Rules that
    need the stored rows (price jumps, venue mismatches, missing values replacing stored
    ones) are checked by the store under its lock. Open or close outside ``[low, high]`` by at most
    ``ohlc_tolerance`` (relative) is a warning, ``open_close_within_tolerance``, not a
    problem: aggregate venues (CryptoQuant) carry such rows and they are kept. A table
    with the canonical columns and no rows is valid (it changes nothing) and gets the
    warning ``empty_table``.

    Args:
        table: canonical table name.
        frame: the raw table with a ``ts`` column.
        source: file or label named in each problem.
        ohlc_tolerance: relative slack for open/close outside the high-low range.
        now: the wall clock for ``ts_out_of_range`` (default: the current time).

    Returns:
        The problems and warnings found.
    """
    found = Findings()
    add = found.problems.append
    spec = STORE_TABLES.get(table)
    if spec is None:
        add(
            Problem(
                source,
                "unknown_table",
                1,
                f"table {table!r} is not a canonical table; expected one of {sorted(STORE_TABLES)}",
            )
        )
        return found
    columns = [str(c) for c in frame.columns]
    missing = [c for c in spec.all_columns if c not in columns]
    unknown = [c for c in columns if c not in spec.all_columns]
    if missing:
        add(
            Problem(
                source,
                "missing_columns",
                len(missing),
                f"expected columns {list(spec.all_columns)}; missing {missing}",
                tuple(missing),
            )
        )
    if unknown:
        add(
            Problem(
                source,
                "unknown_columns",
                len(unknown),
                f"expected only columns {list(spec.all_columns)}; drop or rename {unknown}",
                tuple(unknown),
            )
        )
    if len(set(columns)) != len(columns):
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        add(
            Problem(
                source,
                "duplicate_columns",
                len(repeated),
                f"column names must be unique; rename or drop the repeated {repeated}",
                tuple(repeated),
            )
        )
        return found
    if frame.empty:
        # no value can break a rule; the dtypes of an empty column (a header-only CSV
        # reads as text) say nothing, so only the columns are checked
        if not found.problems:
            found.warnings.append(
                Problem(
                    source,
                    "empty_table",
                    0,
                    f"table {table} has the expected columns but no rows; it changes nothing",
                )
            )
        return found
    usable = {c for c in spec.all_columns if c in columns}
    if "ts" in usable:
        ts_problem = _ts_problem(frame["ts"], source)
        if ts_problem is not None:
            add(ts_problem)
            usable.discard("ts")
    for column in (*spec.keys, *spec.columns):
        if column in usable:
            problem = _dtype_problem(spec, column, frame[column], source)
            if problem is not None:
                add(problem)
                usable.discard(column)

    key_cols = list(spec.key_columns)
    for column in (*key_cols, *spec.required):
        if column in columns:
            nulls = frame[column].isna()
            if nulls.any():
                add(
                    Problem(
                        source,
                        "null_values",
                        int(nulls.sum()),
                        f"column {column!r} is required and may not be null",
                        tuple(_render_rows(frame, nulls, key_cols)),
                    )
                )
    for column in spec.keys:
        if column in NAME_COLUMNS and column in usable:
            values = pd.Series(frame[column].dropna().unique())
            bad = values[~values.map(lambda v: isinstance(v, str) and bool(_NAME_RE.fullmatch(v)))]
            if bad.size:
                count = int(frame[column].isin(bad).sum())
                add(
                    Problem(
                        source,
                        "invalid_names",
                        count,
                        f"{column} values must match {NAME_PATTERN} (they become file and "
                        f"table names); {bad.size} distinct bad value(s); rename them",
                        tuple(repr(v) for v in bad.head(_MAX_EXAMPLES)),
                    )
                )
    for column in spec.keys:
        if column in SYMBOL_COLUMNS and column in usable:
            problem = _symbol_problem(frame, column, key_cols, source)
            if problem is not None:
                add(problem)
    if all(c in usable for c in key_cols):
        dupes = frame.duplicated(subset=key_cols, keep=False)
        if dupes.any():
            add(
                Problem(
                    source,
                    "duplicate_keys",
                    int(dupes.sum()),
                    f"rows must be unique on {key_cols}; found rows sharing a key, keep one "
                    "per key",
                    tuple(_render_rows(frame, dupes, key_cols)),
                )
            )
    if "ts" in usable and spec.freq in ("1h", "1d"):
        ts = frame["ts"].dt.tz_convert("UTC")
        aligned = ts.dt.floor("h") if spec.freq == "1h" else ts.dt.normalize()
        off = ts.notna() & (ts != aligned)
        if off.any():
            unit = "the hour" if spec.freq == "1h" else "00:00 UTC"
            add(
                Problem(
                    source,
                    "misaligned_ts",
                    int(off.sum()),
                    f"ts of a {spec.freq} table must fall on {unit} (bar open / UTC day); "
                    "floor the timestamps or check the source's time zone",
                    tuple(_render_rows(frame, off, key_cols)),
                )
            )
    if "ts" in usable:
        problem = _ts_range_problem(spec, frame, source, now)
        if problem is not None:
            add(problem)
    _check_ranges(spec, frame, usable, source, ohlc_tolerance, found)
    return found


def _symbol_problem(
    frame: pd.DataFrame, column: str, key_cols: list[str], source: str
) -> Problem | None:
    distinct = pd.Series(frame[column].dropna().unique())
    is_text = distinct.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    text = distinct[is_text].astype("str")
    named = text.map(lambda v: bool(_NAME_RE.fullmatch(v))).to_numpy(dtype=bool)
    text = text[named]  # other values break invalid_names already
    wrong = sorted(text[(text.str.upper() != text).to_numpy(dtype=bool)])
    if not wrong:
        return None
    bad = frame[column].isin(wrong)
    return Problem(
        source,
        "non_canonical_symbols",
        int(bad.sum()),
        f"column {column!r} must hold upper-case codes (BTC, not 'btc'), received "
        f"{len(wrong)} other value(s) {wrong[:_MAX_EXAMPLES]}; they would be stored "
        f"as other {column}s that no query finds: upper-case them "
        f"(frame[{column!r}].str.upper())",
        tuple(_render_rows(frame, bad, key_cols, numbered=True)),
    )


def _ts_range_problem(
    spec: TableSpec, frame: pd.DataFrame, source: str, now: pd.Timestamp | None
) -> Problem | None:
    ts = frame["ts"].dt.tz_convert("UTC")
    floor = TS_FLOORS.get(spec.name, TS_FLOOR)
    clock = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
    ceiling = clock + BAR_LENGTHS.get(spec.freq, pd.Timedelta(days=1))
    outside = ts.notna() & ((ts < floor) | (ts > ceiling))
    if not outside.any():
        return None
    return Problem(
        source,
        "ts_out_of_range",
        int(outside.sum()),
        f"column 'ts' must lie between {floor:%Y-%m-%d} and now plus one bar "
        f"({ceiling:%Y-%m-%d %H:%M} UTC), received {int(outside.sum())} row(s) outside "
        "(row 1 = first data row); check the source's epoch, unit (seconds or "
        "milliseconds) and year",
        tuple(_render_rows(frame, outside, list(spec.key_columns), numbered=True)),
    )


def _check_values(
    spec: TableSpec, frame: pd.DataFrame, usable: set[str], source: str
) -> list[Problem]:
    """``non_finite_values`` of every numeric column and ``out_of_range`` against the
    schema's bounds, :data:`PLAUSIBLE_BOUNDS` and :data:`MAX_MAGNITUDE`."""
    key_cols = list(spec.key_columns)
    problems = []
    for column, kind in spec.columns.items():
        if kind not in ("float", "int") or column not in usable:
            continue
        values = pd.Series(
            frame[column].to_numpy(dtype="float64", na_value=np.nan), index=frame.index
        )
        infinite = pd.Series(np.isinf(values.to_numpy()), index=frame.index)
        if infinite.any():
            problems.append(
                Problem(
                    source,
                    "non_finite_values",
                    int(infinite.sum()),
                    f"column {column!r} must be finite where present, received +-inf in "
                    f"{int(infinite.sum())} row(s) (row 1 = first data row); fix or drop them",
                    tuple(_render_rows(frame, infinite, [*key_cols, column], numbered=True)),
                )
            )
        low, high = spec.bounds.get(
            column, PLAUSIBLE_BOUNDS.get(column, (-MAX_MAGNITUDE, MAX_MAGNITUDE))
        )
        low, high = max(low, -MAX_MAGNITUDE), min(high, MAX_MAGNITUDE)
        outside = ~infinite & values.notna() & ((values < low) | (values > high))
        if outside.any():
            problems.append(
                Problem(
                    source,
                    "out_of_range",
                    int(outside.sum()),
                    f"column {column!r} must lie within [{low:g}, {high:g}] where present, "
                    f"received {int(outside.sum())} row(s) outside (row 1 = first data "
                    "row); fix the values, or check the units (a fraction where percent "
                    "is expected)",
                    tuple(_render_rows(frame, outside, [*key_cols, column], numbered=True)),
                )
            )
    return problems


def _check_ranges(
    spec: TableSpec,
    frame: pd.DataFrame,
    usable: set[str],
    source: str,
    tolerance: float,
    found: Findings,
) -> None:
    key_cols = list(spec.key_columns)
    found.problems.extend(_check_values(spec, frame, usable, source))
    positive = [c for c in spec.positive if c in usable]
    if positive:
        bad = (frame[positive] <= 0).any(axis=1)
        if bad.any():
            found.problems.append(
                Problem(
                    source,
                    "non_positive_prices",
                    int(bad.sum()),
                    f"prices {positive} must be > 0 where present",
                    tuple(_render_rows(frame, bad, [*key_cols, *positive])),
                )
            )
    non_negative = [c for c in spec.non_negative if c in usable]
    if non_negative:
        bad = (frame[non_negative] < 0).any(axis=1)
        if bad.any():
            found.problems.append(
                Problem(
                    source,
                    "negative_values",
                    int(bad.sum()),
                    f"columns {non_negative} (volumes, liquidations, supply) must be >= 0",
                    tuple(_render_rows(frame, bad, [*key_cols, *non_negative])),
                )
            )
    if not {"open", "high", "low", "close"} <= usable:
        return
    ohlc = ["open", "high", "low", "close"]
    high, low = frame["high"], frame["low"]
    inverted = high < low
    if inverted.any():
        found.problems.append(
            Problem(
                source,
                "high_below_low",
                int(inverted.sum()),
                "each bar needs high >= low",
                tuple(_render_rows(frame, inverted, [*key_cols, *ohlc])),
            )
        )
    body_high = frame[["open", "close"]].max(axis=1, skipna=True)
    body_low = frame[["open", "close"]].min(axis=1, skipna=True)
    outside = ~inverted & ((high < body_high) | (low > body_low))
    if not outside.any():
        return
    beyond = outside & ((high * (1 + tolerance) < body_high) | (low * (1 - tolerance) > body_low))
    if beyond.any():
        found.problems.append(
            Problem(
                source,
                "open_close_outside_range",
                int(beyond.sum()),
                "open and close must lie within [low, high] (relative tolerance "
                f"{tolerance:g}); fix the bars or drop them from the source",
                tuple(_render_rows(frame, beyond, [*key_cols, *ohlc])),
            )
        )
    tolerated = outside & ~beyond
    if tolerated.any():
        found.warnings.append(
            Problem(
                source,
                "open_close_within_tolerance",
                int(tolerated.sum()),
                "open or close lies slightly outside [low, high] (within relative tolerance "
                f"{tolerance:g}); rows kept as they are",
                tuple(_render_rows(frame, tolerated, [*key_cols, *ohlc])),
            )
        )


def normalize(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The stored layout of a table that passed :func:`validate`.

    Returns:
        ``event_ts`` (``datetime64[us, UTC]``), the keys (``str``), then the value
        columns: ``float64`` for float, ``Int64`` for int, ``str`` for text; in the order
        of :data:`downside.sources.TABLES`, with a fresh ``RangeIndex``.
    """
    spec = STORE_TABLES[table]
    ts = frame["ts"]
    data: dict[str, pd.Series] = {
        "event_ts": (
            pd.Series([], dtype=TS_DTYPE) if ts.empty else ts.dt.tz_convert("UTC").astype(TS_DTYPE)
        ),
    }
    for key in spec.keys:
        data[key] = frame[key].astype("str")
    for column, kind in spec.columns.items():
        series = frame[column]
        if kind == "float":
            data[column] = series.astype("float64")
        elif kind == "int":
            data[column] = series.astype("Float64").astype("Int64")
        else:
            data[column] = series.astype("str")
    return pd.DataFrame(data).reset_index(drop=True)
