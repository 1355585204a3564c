"""Materialise feature groups from the store, point in time.

Features whose inputs come from the same sources form a group and share one table:
``entity, event_ts, available_ts`` then, per feature, its value and the ``event_ts`` of
that value (``<name>@ts``). Each feature is computed per entity on the event grid of its
first input, in event order. A row's ``available_ts`` is the newest ``available_ts`` of
any input row it may use: the running maximum over the first input's rows up to the
event, and over every other input's rows up to the same ``event_ts``, joined exactly on
entity and ``event_ts``; it is monotone in event order. Missing values (warm-up, a
missing input that day) carry the last earlier value forward with its own event time,
so the TTL applies to the value actually served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from downside.errors import EmptyStoreError, Problem, SchemaError
from downside.features._definitions import FeatureDefinition
from downside.features._inputs import GLOBAL_ENTITY, InputRef, InputTerm, entity_column
from downside.features._protocols import StoreReader
from downside.sources import TABLES

TS_DTYPE = "datetime64[us, UTC]"
VALUE_TS_SUFFIX = "@ts"
BASE_COLUMNS = ("entity", "event_ts", "available_ts")


@dataclass(frozen=True)
class Group:
    """Features computed on the same sources.

    Attributes:
        group_id: stable identifier (file stem of the cached table).
        source_ids: the sources, the grid's source first.
        is_global: whether the group has one entity for every symbol.
        definitions: the features, in definition order.
    """

    group_id: str
    source_ids: tuple[str, ...]
    is_global: bool
    definitions: tuple[FeatureDefinition, ...]


def plan_groups(definitions: Sequence[FeatureDefinition]) -> list[Group]:
    """Group definitions by (grid source, other sources), in first-seen order."""
    members: dict[tuple[str, ...], list[FeatureDefinition]] = {}
    for definition in definitions:
        ids = [ref.source_id for ref in definition.input_refs]
        key = (ids[0], *sorted(set(ids[1:]) - {ids[0]}))
        members.setdefault(key, []).append(definition)
    groups = []
    for key, defs in members.items():
        digest = hashlib.sha256("|".join(key).encode()).hexdigest()[:10]
        groups.append(Group(f"g{digest}", key, defs[0].input_refs[0].is_global, tuple(defs)))
    return groups


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "entity": pd.Series(dtype="str"),
            "event_ts": pd.Series(dtype=TS_DTYPE),
            "available_ts": pd.Series(dtype=TS_DTYPE),
        }
    )
    for column in columns:
        frame[column] = pd.Series(dtype="float64")
    return frame


class SourceReader:
    """Reads, selects and venue-stitches raw rows into per-entity source frames.

    Args:
        store: the point-in-time store.
        venues: venue preference per table with venues.
        daily_venues: venue preference of daily bars.
        hourly_venues: venue preference of hourly bars.
        symbols: read only the rows of these symbols from tables keyed by symbol or
            asset (one partition of a build); None reads every row.
    """

    def __init__(
        self,
        store: StoreReader,
        venues: Mapping[str, tuple[str, ...]],
        daily_venues: Sequence[str],
        hourly_venues: Sequence[str],
        symbols: Sequence[str] | None = None,
    ) -> None:
        self.store = store
        self.venues = venues
        self.price_venues = {"1d": tuple(daily_venues), "1h": tuple(hourly_venues)}
        self.symbols = None if symbols is None else sorted(symbols)
        self._tables: dict[str, pd.DataFrame] = {}
        self._frames: dict[str, pd.DataFrame] = {}

    def prices(self, freq: Literal["1d", "1h"]) -> pd.DataFrame:
        """Venue-stitched bars (of the reader's symbols, when it has them), or an empty
        frame when the table was never ingested."""
        table = "ohlcv_daily" if freq == "1d" else "ohlcv_hourly"
        if table not in self._tables:
            venues = self.price_venues[freq]
            try:
                try:
                    bars = self.store.prices(freq, venues, self.symbols)
                except EmptyStoreError:
                    if self.symbols is None:
                        raise
                    # some of the symbols have no bars of this frequency: keep the others
                    bars = self.store.prices(freq, venues)
                    bars = bars.loc[bars["symbol"].isin(self.symbols)].reset_index(drop=True)
            except EmptyStoreError:
                bars = pd.DataFrame(
                    {c: pd.Series(dtype=TS_DTYPE) for c in ("event_ts", "available_ts")}
                ).assign(symbol=pd.Series(dtype="str"))
            self._tables[table] = bars
        return self._tables[table]

    def _raw(self, table: str) -> pd.DataFrame | None:
        if table not in self._tables:
            symbols = self.symbols if entity_column(table) is not None else None
            try:
                self._tables[table] = self.store.read(table, symbols=symbols)
            except EmptyStoreError:
                return None
        return self._tables[table]

    def _term(self, term: InputTerm) -> pd.DataFrame:
        columns = [
            c for c in (*TABLES[term.table].columns,) if TABLES[term.table].columns[c] != "str"
        ]
        if term.is_price:
            bars = self.prices("1d" if term.table == "ohlcv_daily" else "1h")
            raw: pd.DataFrame | None = bars.rename(columns={"symbol": "entity"})
            columns = [c for c in ("open", "high", "low", "close", "volume_base") if c in bars]
        else:
            raw = self._raw(term.table)
        if raw is None or raw.empty:
            return _empty(columns)
        frame = raw
        for key, value in term.selector:
            frame = frame.loc[frame[key] == value]
        if not term.is_price:
            entity = entity_column(term.table)
            if entity is None:
                frame = frame.assign(entity=GLOBAL_ENTITY)
            else:
                frame = frame.rename(columns={entity: "entity"})
            if "venue" in TABLES[term.table].keys:
                frame = _stitch_by_day(frame, self.venues[term.table])
        out = frame.loc[:, [*BASE_COLUMNS, *columns]].copy()
        out["entity"] = out["entity"].astype("str")
        for column in ("event_ts", "available_ts"):
            out[column] = out[column].dt.tz_convert("UTC").dt.as_unit("us")
        for column in columns:
            out[column] = out[column].astype("float64")
        out = out.sort_values(["entity", "event_ts"], kind="stable", ignore_index=True)
        duplicated = out.duplicated(["entity", "event_ts"])
        if duplicated.any():
            raise SchemaError(
                [
                    Problem(
                        term.source_id,
                        "duplicate_keys",
                        int(duplicated.sum()),
                        "expected one row per entity and event_ts after the selector and "
                        "venue preference; add a selector or fix the stored table",
                        tuple(str(v) for v in out.loc[duplicated, "event_ts"].head(3)),
                    )
                ]
            )
        return out

    def frame(self, ref: InputRef) -> pd.DataFrame:
        """The rows of one input's source: ``entity, event_ts, available_ts, <columns>``,
        sorted by entity then ``event_ts``, one row per key.

        Raises:
            SchemaError: the selection leaves several rows per entity and event time.
        """
        if ref.source_id in self._frames:
            return self._frames[ref.source_id]
        out = self._term(ref.terms[0]) if len(ref.terms) == 1 else self._coalesce(ref)
        self._frames[ref.source_id] = out
        return out

    def _coalesce(self, ref: InputRef) -> pd.DataFrame:
        daily = []
        for rank, term in enumerate(ref.terms):
            rows = self._term(term)
            if rows.empty:
                continue
            rows = rows.assign(event_ts=rows["event_ts"].dt.floor("D"))
            agg = rows.groupby(["entity", "event_ts"], sort=False).agg(
                value=(term.column, "mean"), available_ts=("available_ts", "max")
            )
            agg = agg.reset_index()
            # a day's mean is known once the day has ended, never from the rows seen so
            # far: a store updated mid-day would otherwise serve a partial mean that
            # history (where the whole day is known) never showed the model
            agg["available_ts"] = np.maximum(
                agg["available_ts"], agg["event_ts"] + pd.Timedelta(days=1)
            )
            daily.append(agg.assign(_rank=rank))
        if not daily:
            return _empty(["value"])
        both = pd.concat(daily, ignore_index=True).sort_values(
            ["entity", "event_ts", "_rank"], kind="stable", ignore_index=True
        )
        first = ~both.duplicated(["entity", "event_ts"], keep="first")
        return both.loc[first, [*BASE_COLUMNS, "value"]].reset_index(drop=True)


def _stitch_by_day(frame: pd.DataFrame, venues: Sequence[str]) -> pd.DataFrame:
    """Per entity and UTC day, keep the rows of the best listed venue that has rows."""
    rank = {venue: i for i, venue in enumerate(venues)}
    used = frame.loc[frame["venue"].isin(list(rank))]
    day = used["event_ts"].dt.floor("D")
    order = used["venue"].map(rank).astype("int64")
    best = order.groupby([used["entity"], day], sort=False).transform("min")
    return used.loc[order == best]


def _cummax_ts(values: np.ndarray) -> np.ndarray:
    """Running maximum of int64 microseconds where NaT (int64 min) never wins."""
    return np.maximum.accumulate(values) if len(values) else values


def _micros(series: pd.Series) -> np.ndarray:
    return np.asarray(series.to_numpy(dtype="datetime64[us]").view("int64"))


def compute_group(group: Group, reader: SourceReader) -> pd.DataFrame:
    """Compute one group's table (see the module docstring).

    Raises:
        SchemaError: a source selection is ambiguous.
    """
    refs: dict[str, InputRef] = {}
    for definition in group.definitions:
        for ref in definition.input_refs:
            refs.setdefault(ref.source_id, ref)
    frames = {sid: reader.frame(refs[sid]) for sid in group.source_ids}
    names = [d.name for d in group.definitions]
    primary = frames[group.source_ids[0]]
    if primary.empty:
        return _empty([*names, *(n + VALUE_TS_SUFFIX for n in names)])
    others: dict[str, dict[str, pd.DataFrame]] = {}
    for sid in group.source_ids[1:]:
        frame = frames[sid]
        others[sid] = {str(e): rows for e, rows in frame.groupby("entity", sort=False)}
    pieces = []
    for entity, part in primary.groupby("entity", sort=True):
        pieces.append(_compute_entity(group, str(entity), part, others, refs))
    out = pd.concat(pieces, ignore_index=True)
    out["entity"] = out["entity"].astype("str")
    return out


def _compute_entity(
    group: Group,
    entity: str,
    part: pd.DataFrame,
    others: Mapping[str, Mapping[str, pd.DataFrame]],
    refs: Mapping[str, InputRef],
) -> pd.DataFrame:
    grid = pd.DatetimeIndex(part["event_ts"])
    available = _cummax_ts(_micros(part["available_ts"]))
    series: dict[tuple[str, str], pd.Series] = {}
    for column in part.columns[len(BASE_COLUMNS) :]:
        series[(group.source_ids[0], column)] = pd.Series(part[column].to_numpy(), index=grid)
    for sid, by_entity in others.items():
        other = by_entity.get(entity)
        if other is None:
            continue
        index = pd.DatetimeIndex(other["event_ts"])
        for column in other.columns[len(BASE_COLUMNS) :]:
            series[(sid, column)] = pd.Series(other[column].to_numpy(), index=index)
        other_available = pd.Series(_cummax_ts(_micros(other["available_ts"])), index=index)
        aligned = other_available.reindex(grid).to_numpy()
        present = ~np.isnan(aligned)
        available[present] = np.maximum(available[present], aligned[present].astype("int64"))
    available = _cummax_ts(available)
    event_us = grid.as_unit("us").asi8
    out: dict[str, object] = {
        "entity": np.full(len(grid), entity, dtype=object),
        "event_ts": part["event_ts"].to_numpy(),
        "available_ts": pd.to_datetime(available, unit="us", utc=True).as_unit("us"),
    }
    value_ts: dict[str, object] = {}
    empty = pd.Series(np.nan, index=grid)
    for definition in group.definitions:
        inputs = [series.get((ref.source_id, ref.column), empty) for ref in definition.input_refs]
        freqs = [ref.freq for ref in definition.input_refs]
        result = definition.transform_value.compute(inputs, freqs)
        values = result.to_numpy(dtype="float64")
        has = ~np.isnan(values)
        stamps = pd.Series(np.where(has, event_us, np.iinfo(np.int64).min))
        last = np.maximum.accumulate(stamps.to_numpy()) if len(stamps) else stamps.to_numpy()
        filled = pd.Series(values).ffill().to_numpy()
        out[definition.name] = filled
        value_ts[definition.name + VALUE_TS_SUFFIX] = pd.to_datetime(
            np.where(
                last == np.iinfo(np.int64).min, np.datetime64("NaT"), last.astype("datetime64[us]")
            ),
            utc=True,
        ).as_unit("us")
    return pd.DataFrame({**out, **value_ts})
