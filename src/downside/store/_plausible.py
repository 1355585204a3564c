"""Plausibility rules that need the stored rows: price jumps, venue mismatches and missing
values that would replace stored ones.

They run under the ingest lock on the table as it would be after the upsert (stored rows
and incoming rows together), and judge only the rows the ingest inserts or changes: a
suspicious stored row is the business of :meth:`downside.store.Store.delete`, not of the
next ingest.

- ``price_jump``: a bar's open, high and close lie within a factor ``jump_limit`` of the
  median close of its neighbouring bars (up to :data:`NEIGHBOURS` before and after it in
  the same symbol and venue, no further than :data:`NEIGHBOUR_WINDOW` bars away in
  time). Lows are not bounded below: flash crashes are real (ETH printed $0.10 on GDAX
  on 2017-06-21, and CryptoQuant's aggregate low of that day shows it).
- ``venue_mismatch``: a close lies within a factor ``venue_limit`` of the median close of
  the other venues of its symbol at the same bar time (every venue of a symbol quotes in
  USD or a USD stablecoin, so the stitched series may switch between them).
- ``null_overwrites_value``: an incoming row leaves a column empty where the stored row
  of the same key has a value; refused unless ``allow_null_updates``.

On the shared data the largest ratio to the neighbouring closes is 1.52 (BCH on Coinbase,
2020-03-12, close) and the largest gap between venues is 4.7% (CryptoQuant's ETH close of
2023-07-09): the defaults, 10 and 1.5, leave room for real crashes and de-pegs while
refusing misplaced decimal points and unit mix-ups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

from downside.errors import Problem
from downside.sources import TABLES
from downside.store._tables import STORE_TABLES
from downside.store._validate import BAR_LENGTHS

DEFAULT_JUMP_LIMIT: Final = 10.0
DEFAULT_VENUE_LIMIT: Final = 1.5
NEIGHBOURS: Final = 2
NEIGHBOUR_WINDOW: Final = 7
PRICE_TABLES: Final = frozenset({"ohlcv_daily", "ohlcv_hourly"})
_MAX_EXAMPLES = 3


def _micros(ts: pd.Series) -> np.ndarray:
    """Microseconds since the epoch of a tz-aware timestamp column."""
    return np.asarray(pd.DatetimeIndex(ts).as_unit("us").asi8)


def _nanmedian_columns(stacked: np.ndarray) -> np.ndarray:
    """Median of each column ignoring NaN (NaN where a column has no value); a sort of a
    few rows is much faster than :func:`numpy.nanmedian` for many short columns."""
    ordered = np.sort(stacked, axis=0)  # NaN sorts last
    count = (~np.isnan(stacked)).sum(axis=0)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[None, :] // 2, axis=0)[0]
    high = np.take_along_axis(ordered, (count // 2)[None, :], axis=0)[0]
    out: np.ndarray = np.asarray((low + high) / 2.0, dtype="float64")
    out[count == 0] = np.nan
    return out


def _key_text(row: pd.Series, columns: Sequence[str]) -> str:
    parts = []
    for column in columns:
        value = row[column]
        if isinstance(value, pd.Timestamp):
            value = value.isoformat()
        parts.append(f"{column}={value}")
    return " ".join(parts)


def price_problems(
    table: str,
    merged: pd.DataFrame,
    touched: np.ndarray,
    source: str,
    *,
    jump_limit: float = DEFAULT_JUMP_LIMIT,
    venue_limit: float = DEFAULT_VENUE_LIMIT,
) -> list[Problem]:
    """``price_jump`` and ``venue_mismatch`` problems of the touched rows of a price table.

    Args:
        table: ``ohlcv_daily`` or ``ohlcv_hourly`` (other tables have no price rules).
        merged: the table after the upsert, in stored order (symbol, venue, event_ts).
        touched: mask over ``merged`` of the rows this ingest inserts or changes.
        source: file or label named in each problem.
        jump_limit: largest ratio to the neighbouring closes.
        venue_limit: largest ratio to the other venues' close.

    Returns:
        One problem per price column that breaks a rule, naming rows by their keys.
    """
    if table not in PRICE_TABLES or not touched.any():
        return []
    problems = _jumps(table, merged, touched, source, jump_limit)
    problems.extend(_venues(merged, touched, source, venue_limit))
    return problems


def _jumps(
    table: str, merged: pd.DataFrame, touched: np.ndarray, source: str, limit: float
) -> list[Problem]:
    n = len(merged)
    symbol = pd.factorize(merged["symbol"], sort=False)[0].astype("int64")
    venue = pd.factorize(merged["venue"], sort=False)[0].astype("int64")
    series = symbol * (int(venue.max(initial=0)) + 1) + venue
    ts = _micros(merged["event_ts"])
    close = merged["close"].to_numpy(dtype="float64")
    rows = np.flatnonzero(touched)
    window = NEIGHBOUR_WINDOW * int(BAR_LENGTHS[TABLES[table].freq] / pd.Timedelta(microseconds=1))
    references = []
    for offset in (*range(-NEIGHBOURS, 0), *range(1, NEIGHBOURS + 1)):
        other = rows + offset
        inside = (other >= 0) & (other < n)
        other = np.clip(other, 0, n - 1)
        usable = inside & (series[other] == series[rows]) & (np.abs(ts[other] - ts[rows]) <= window)
        references.append(np.where(usable, close[other], np.nan))
    reference = _nanmedian_columns(np.vstack(references))
    problems = []
    log_limit = float(np.log(limit))
    for column in ("open", "high", "close"):
        values = merged[column].to_numpy(dtype="float64")[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.abs(np.log(values / reference))
        bad = np.nan_to_num(ratio, nan=0.0) > log_limit
        if not bad.any():
            continue
        examples = tuple(
            f"{_key_text(merged.iloc[row], ('event_ts', 'symbol', 'venue'))} "
            f"{column}={merged[column].iloc[row]:.6g} (neighbours' close {ref:.6g})"
            for row, ref in zip(
                rows[bad][:_MAX_EXAMPLES], reference[bad][:_MAX_EXAMPLES], strict=True
            )
        )
        problems.append(
            Problem(
                source,
                "price_jump",
                int(bad.sum()),
                f"column {column!r} must lie within a factor {limit:g} of the median close of "
                f"the neighbouring bars of its symbol and venue (stored and incoming, up to "
                f"{NEIGHBOURS} each side within {NEIGHBOUR_WINDOW} bars); check for a "
                "misplaced decimal point or a unit mix-up; if a stored neighbour is the wrong "
                "one remove it with Store.delete; if the move is real raise jump_limit "
                "(DOWNSIDE_STORE_JUMP_LIMIT)",
                examples,
            )
        )
    return problems


def _venues(merged: pd.DataFrame, touched: np.ndarray, source: str, limit: float) -> list[Problem]:
    symbol_code = pd.factorize(merged["symbol"], sort=False)[0]
    frame = pd.DataFrame(
        {
            "sym": symbol_code,
            "ts": _micros(merged["event_ts"]),
            "venue": pd.factorize(merged["venue"], sort=False)[0],
            "close": merged["close"].to_numpy(dtype="float64"),
        }
    )
    bars = frame.loc[touched, ["sym", "ts"]].drop_duplicates()
    near = frame.merge(bars, on=["sym", "ts"], how="left", indicator=True)["_merge"]
    same_bar = frame.loc[(near == "both").to_numpy()]  # every venue's row at a touched bar
    counts = same_bar.groupby(["sym", "ts"], sort=False)["venue"].transform("size")
    others = same_bar.loc[(counts > 1).to_numpy()]
    candidates = others.index[touched[others.index.to_numpy()]]
    if not len(candidates):
        return []
    mine = frame.loc[candidates].reset_index(names="row")
    pairs = mine.merge(others, on=["sym", "ts"], suffixes=("", "_other"))
    pairs = pairs.loc[pairs["venue"] != pairs["venue_other"]]
    reference = pairs.groupby("row")["close_other"].median()
    own = frame["close"].to_numpy()[reference.index.to_numpy()]
    ratio = np.abs(np.log(own / reference.to_numpy()))
    bad = ratio > np.log(limit)
    if not bad.any():
        return []
    bad_rows = reference.index.to_numpy()[bad]
    examples = []
    for row in bad_rows[:_MAX_EXAMPLES]:
        at = merged.iloc[row]
        same_bar = (symbol_code == symbol_code[row]) & (
            merged["event_ts"] == at["event_ts"]
        ).to_numpy()
        others_text = ", ".join(
            f"{venue} {value:.6g}"
            for venue, value in zip(
                merged.loc[same_bar, "venue"], merged.loc[same_bar, "close"], strict=True
            )
            if venue != at["venue"]
        )
        examples.append(
            f"{_key_text(at, ('event_ts', 'symbol', 'venue'))} close={at['close']:.6g} "
            f"(other venues: {others_text})"
        )
    return [
        Problem(
            source,
            "venue_mismatch",
            int(bad.sum()),
            f"column 'close' must lie within a factor {limit:g} of the median close of the "
            "other venues of its symbol at the same bar (stored and incoming); check the "
            "quote currency, units and symbol; if the stored venue is the wrong one remove "
            "its rows with Store.delete; if the gap is real raise venue_jump_limit "
            "(DOWNSIDE_STORE_VENUE_JUMP_LIMIT)",
            tuple(examples),
        )
    ]


def null_overwrite_problems(
    table: str, both: pd.DataFrame, matched: np.ndarray, source: str
) -> list[Problem]:
    """``null_overwrites_value`` problems: matched rows whose incoming value is missing
    where the stored one is set.

    Args:
        table: canonical table name.
        both: incoming rows left-joined to the stored ones, stored columns suffixed
            ``__old``.
        matched: mask over ``both`` of the rows whose key is stored.
        source: file or label named in each problem.
    """
    spec = STORE_TABLES[table]
    keys = ["event_ts", *spec.keys]
    problems = []
    for column in spec.columns:
        lost = matched & both[column].isna().to_numpy() & both[f"{column}__old"].notna().to_numpy()
        if not lost.any():
            continue
        examples = tuple(
            f"{_key_text(row, keys)} stored {column}={row[f'{column}__old']}"
            for _, row in both.loc[lost].head(_MAX_EXAMPLES).iterrows()
        )
        problems.append(
            Problem(
                source,
                "null_overwrites_value",
                int(lost.sum()),
                f"column {column!r} is empty in {int(lost.sum())} row(s) whose stored value is "
                "set; a missing value never replaces a stored one unless asked: fill the "
                "column, or pass allow_null_updates=True to clear the stored values",
                examples,
            )
        )
    return problems
