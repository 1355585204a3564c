"""The feature store: cached per-group feature tables and point-in-time retrieval.

Group tables (see :mod:`downside.features._compute`) are cached as Parquet under
``<store root>/features/<key>/`` where ``key`` digests ``Store.version``, the definitions
hash and the price venue preferences; a change of any of them builds a new cache on
first use. The build is partitioned by symbol: one task per batch of
:data:`PARTITION_SIZE` symbols (their groups, read from their rows only) and one for
the market-wide groups; a task writes ``<group>.parquet/<partition>.parquet`` with one
row group per symbol, so a read of some symbols loads only their row groups. Tasks run
in this process, or wherever a ``mapper`` sends them (a Dask cluster, see
:mod:`downside.workflows._engine`); each entity is computed from its own rows, so every
partitioning gives the same tables. Files are written to a temporary name and moved into
place with ``os.replace``; ``manifest.json`` is written last and marks the cache
complete.

Retrieval is an as-of join on ``available_ts``: for each spine row ``(symbol, asof)`` and
each group, the newest row of the symbol's entity with ``available_ts <= asof`` (one
vectorised ``searchsorted`` per symbol and group over that entity's rows, loaded on first
use). A value older than its TTL at ``asof`` (by its ``event_ts``) is NaN.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from downside.config import Settings, load_settings
from downside.errors import EmptyStoreError, Problem, SchemaError, StoreError, UnknownSymbolError
from downside.features._compute import (
    VALUE_TS_SUFFIX,
    Group,
    SourceReader,
    compute_group,
    plan_groups,
)
from downside.features._definitions import FeatureSet, load_definitions
from downside.features._inputs import GLOBAL_ENTITY
from downside.features._protocols import StoreReader

Mapper = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]
"""Runs a task over items, results in item order (``Engine.map`` of
:mod:`downside.workflows._engine`); None runs them here, one after the other."""

CACHE_FORMAT = 2
PARTITION_SIZE = 16
"""Symbols per feature-build task."""
GLOBAL_PARTITION = "global"
_NAT = np.iinfo(np.int64).min
_MAX = np.iinfo(np.int64).max
_HOUR_US = 3_600_000_000
_FREQS = {"1d": "1D", "1h": "1h"}


@dataclass
class _EntityIndex:
    """One entity's rows of one group, ready for as-of lookups.

    Rows are sorted by ``available_ts``; per-feature arrays are stored feature-major
    and end with a sentinel row (NaN value, no timestamp) used where no row is
    available. ``expiry`` is ``value_ts + ttl`` (int64 max where there is no value) and
    ``min_expiry`` its minimum over the features of a row, so rows whose as-of time is
    before ``min_expiry`` skip the per-feature TTL check.
    """

    available: np.ndarray
    data: np.ndarray
    value_ts: np.ndarray
    expiry: np.ndarray
    min_expiry: np.ndarray

    @classmethod
    def of(cls, group: Group, frame: pd.DataFrame) -> _EntityIndex:
        order = np.argsort(_us(frame["available_ts"]), kind="stable")
        n_features = len(group.definitions)
        rows = len(frame) + 1
        values = np.full((n_features, rows), np.nan)
        value_ts = np.full((n_features, rows), _NAT, dtype="int64")
        expiry = np.full((n_features, rows), _MAX, dtype="int64")
        for j, definition in enumerate(group.definitions):
            values[j, :-1] = frame[definition.name].to_numpy(dtype="float64")[order]
            stamps = _us(frame[definition.name + VALUE_TS_SUFFIX])[order]
            value_ts[j, :-1] = stamps
            ttl = definition.ttl_value.value // 1000
            expiry[j, :-1] = np.where(stamps == _NAT, _MAX, stamps + ttl)
        return cls(
            available=np.append(_us(frame["available_ts"])[order], _NAT),
            data=values,
            value_ts=value_ts,
            expiry=expiry,
            min_expiry=expiry.min(axis=0) if n_features else np.full(rows, _MAX),
        )

    def positions(self, asof: np.ndarray) -> np.ndarray:
        """Row used at each (sorted) as-of time: the newest with ``available_ts <= asof``,
        the sentinel where there is none."""
        sentinel = len(self.available) - 1
        found = np.searchsorted(self.available[:-1], asof, side="right")
        return np.where(found > 0, found - 1, sentinel)


@dataclass(frozen=True)
class _Partition:
    """One task of a build: the groups of ``symbols``, or the market-wide groups."""

    name: str
    symbols: tuple[str, ...] | None


@dataclass(frozen=True)
class _StoreRef:
    """Reopens a :class:`downside.store.Store` by its folder in a worker process (the
    store object itself carries its in-memory tables)."""

    root: Path

    def open(self) -> StoreReader:
        from downside.store import Store

        return Store(self.root)


@dataclass(frozen=True)
class _BuildJob:
    """Everything a build task needs; small enough to send to a worker."""

    store: StoreReader | _StoreRef
    definitions: FeatureSet
    daily_venues: tuple[str, ...]
    hourly_venues: tuple[str, ...]
    folder: Path
    groups: tuple[Group, ...] = field(repr=False)

    def __call__(self, part: _Partition) -> dict[str, Any]:
        """Compute and write one partition's group tables.

        Returns:
            ``latest_daily_available`` of its symbols (ISO times) and, per group, the
            entities written.
        """
        store = self.store.open() if isinstance(self.store, _StoreRef) else self.store
        reader = SourceReader(
            store,
            self.definitions.sources,
            self.daily_venues,
            self.hourly_venues,
            symbols=part.symbols,
        )
        market_wide = part.symbols is None
        entities: dict[str, list[str]] = {}
        for group in self.groups:
            if group.is_global != market_wide:
                continue
            frame = compute_group(group, reader)
            _write_table(self.folder / f"{group.group_id}.parquet" / f"{part.name}.parquet", frame)
            entities[group.group_id] = [str(e) for e in pd.unique(frame["entity"])]
        latest: dict[str, str] = {}
        if not market_wide:
            daily = reader.prices("1d")
            if not daily.empty:
                by_symbol = daily.groupby("symbol")["available_ts"].max()
                latest = {str(sym): ts.isoformat() for sym, ts in by_symbol.items()}
        return {"latest": latest, "entities": entities}


def _write_table(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` (sorted by entity) with one row group per entity, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # pyarrow reads tz-aware columns through Series.values, which pandas 3.1
        # deprecates; pandas' own to_parquet silences the same warning
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        table = pa.Table.from_pandas(frame, preserve_index=False)
    entity = frame["entity"].to_numpy(dtype=object)
    cuts = [0, *(np.flatnonzero(entity[1:] != entity[:-1]) + 1).tolist(), len(frame)]
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with pq.ParquetWriter(tmp, table.schema) as writer:
        if len(frame) == 0:
            writer.write_table(table)
        for lo, hi in itertools.pairwise(cuts):
            if hi > lo:
                writer.write_table(table.slice(lo, hi - lo))
    os.replace(tmp, path)


def _us(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype="datetime64[us]").view("int64")
    return np.asarray(values)


@dataclass(frozen=True)
class _Spine:
    """A validated spine: symbol codes are ranks of the sorted symbols, so sorting by
    (code, asof) also sorts every group's (entity, available) lookup keys."""

    symbols: pd.Series
    asof: pd.Series
    uniques: tuple[str, ...]
    codes: np.ndarray
    asof_us: np.ndarray
    order: np.ndarray | None
    sorted_asof: np.ndarray
    bounds: np.ndarray


class FeatureStore:
    """Point-in-time features over a :class:`downside.store.Store`.

    Args:
        store: the raw point-in-time store.
        definitions: validated feature definitions (:func:`load_definitions`).
        daily_venues: venue preference of daily bars (technical features, dollar volume);
            ``None`` for the repository's (``[prices]`` in ``repo.toml``).
        hourly_venues: venue preference of hourly bars (intraday technical features);
            ``None`` for the repository's.

    Raises:
        SchemaError: empty venue lists.
    """

    def __init__(
        self,
        store: StoreReader,
        definitions: FeatureSet,
        *,
        daily_venues: Sequence[str] | None = None,
        hourly_venues: Sequence[str] | None = None,
    ) -> None:
        daily = definitions.daily_venues if daily_venues is None else daily_venues
        hourly = definitions.hourly_venues if hourly_venues is None else hourly_venues
        problems = [
            Problem(name, "bad_venue_list", 1, f"expected a non-empty list, received {value!r}")
            for name, value in (("daily_venues", daily), ("hourly_venues", hourly))
            if isinstance(value, str) or not list(value)
        ]
        if problems:
            raise SchemaError(problems)
        self.store = store
        self.definitions = definitions
        self.daily_venues = tuple(daily)
        self.hourly_venues = tuple(hourly)
        self._groups = plan_groups(definitions.definitions)
        self._definitions_hash = definitions.hash
        self._resolved: dict[tuple[str, ...] | None, list[str]] = {}
        self._key: str | None = None
        self._indexes: dict[tuple[int, str], _EntityIndex | None] = {}
        self._slots = {
            d.name: (g, j)
            for g, group in enumerate(self._groups)
            for j, d in enumerate(group.definitions)
        }
        self._meta: dict[str, Any] = {}
        self._lock = threading.RLock()
        """Held while the cache is switched or rows are read into memory: a thread must
        not see a key another thread has claimed but not loaded yet (its features would
        read as missing). Readers of loaded rows take no lock."""
        self.mapper: Mapper | None = None
        """Where build tasks run when :meth:`build` gets none (None: here)."""

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> FeatureStore:
        """The feature store of ``settings`` (default: :func:`downside.config.load_settings`):
        its store, its feature folder, and its venue preferences where set (else the
        feature repository's).

        Raises:
            ConfigError: invalid settings.
            FeatureDefinitionError: invalid definition files.
        """
        from downside.store import Store

        resolved = settings if settings is not None else load_settings()
        return cls(
            Store.from_settings(resolved),
            load_definitions(resolved.resolved_feature_dir),
            daily_venues=resolved.daily_venues,
            hourly_venues=resolved.hourly_venues,
        )

    def __repr__(self) -> str:
        return f"FeatureStore({self.store!r}, {len(self.definitions)} features)"

    # ------------------------------------------------------------------ cache

    @property
    def cache_dir(self) -> Path:
        """Folder holding every cached build (``<store root>/features``)."""
        return Path(self.store.root) / "features"

    def cache_key(self) -> str:
        """Digest of the store version, definitions hash and price venues."""
        text = json.dumps(
            [
                CACHE_FORMAT,
                self.store.version,
                self._definitions_hash,
                self.daily_venues,
                self.hourly_venues,
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def partitions(self, partition_size: int = PARTITION_SIZE) -> list[tuple[str, ...] | None]:
        """The symbols of each build task (None: the market-wide groups): the symbols with
        daily bars at the configured venues, sorted, in batches of ``partition_size``."""
        try:
            daily = self.store.prices("1d", self.daily_venues)
            symbols = sorted(str(s) for s in pd.unique(daily["symbol"]))
        except EmptyStoreError:
            symbols = []
        size = max(1, int(partition_size))
        batches: list[tuple[str, ...] | None] = [None]
        batches += [tuple(symbols[i : i + size]) for i in range(0, len(symbols), size)]
        return batches

    def build(
        self, *, mapper: Mapper | None = None, partition_size: int = PARTITION_SIZE
    ) -> FeatureStore:
        """Recompute every group from the store and rewrite the cache; returns ``self``.

        Args:
            mapper: runs the build tasks (default :attr:`mapper`, else this process).
            partition_size: symbols per task.

        Raises:
            SchemaError: a source selection is ambiguous in the stored data.
            StoreError: the cache cannot be written.
        """
        from downside.store import Store

        key = self.cache_key()
        folder = self.cache_dir / key
        run = mapper if mapper is not None else self.mapper
        parts = [
            _Partition(GLOBAL_PARTITION if symbols is None else f"p{i:04d}", symbols)
            for i, symbols in enumerate(self.partitions(partition_size))
        ]
        job = _BuildJob(
            _StoreRef(Path(self.store.root))
            if run is not None and isinstance(self.store, Store)
            else self.store,
            self.definitions,
            self.daily_venues,
            self.hourly_venues,
            folder,
            tuple(self._groups),
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            results = [job(p) for p in parts] if run is None else run(job, parts)
            latest: dict[str, str] = {}
            entities: dict[str, dict[str, str]] = {g.group_id: {} for g in self._groups}
            for part, result in zip(parts, results, strict=True):
                latest.update(result["latest"])
                for group_id, names in result["entities"].items():
                    entities[group_id].update(dict.fromkeys(names, part.name))
            meta = {
                "format": CACHE_FORMAT,
                "key": key,
                "store_version": self.store.version,
                "definitions_hash": self.definitions.hash,
                "groups": [g.group_id for g in self._groups],
                "partitions": [p.name for p in parts],
                "entities": entities,
                "latest_daily_available": dict(sorted(latest.items())),
            }
            tmp = folder / f".manifest.{uuid.uuid4().hex}.tmp"
            tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
            os.replace(tmp, folder / "manifest.json")
        except OSError as exc:
            raise StoreError(
                f"cannot write the feature cache {folder}: {exc}; check the permissions and "
                "free space of the store folder, then retry"
            ) from exc
        for other in self.cache_dir.iterdir():
            if other.is_dir() and other.name != key:
                shutil.rmtree(other, ignore_errors=True)
        self._install(key, meta)
        return self

    def _install(self, key: str, meta: dict[str, Any]) -> None:
        self._indexes = {}
        self._meta = meta
        self._key = key

    def _ensure(self) -> None:
        key = self.cache_key()
        if key == self._key:
            return
        with self._lock:
            if key == self._key:  # another thread switched while this one waited
                return
            manifest = self.cache_dir / key / "manifest.json"
            try:
                meta = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = None
            if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
                self.build()
                return
            self._install(key, meta)

    def _load(self, groups: Sequence[int], symbols: Sequence[str]) -> None:
        """Read the rows of ``symbols`` (and the market-wide rows) of ``groups`` that are
        not in memory yet: one filtered read per partition file (under the lock: a row
        set claimed by one thread is only seen by others once it is read)."""
        with self._lock:
            self._load_locked(groups, symbols)

    def _load_locked(self, groups: Sequence[int], symbols: Sequence[str]) -> None:
        folder = self.cache_dir / str(self._key)
        for g in groups:
            group = self._groups[g]
            names = [GLOBAL_ENTITY] if group.is_global else list(symbols)
            todo = [n for n in names if (g, n) not in self._indexes]
            if not todo:
                continue
            where = self._meta["entities"].get(group.group_id, {})
            files: dict[str, list[str]] = {}
            for name in todo:
                self._indexes[(g, name)] = None
                if name in where:
                    files.setdefault(where[name], []).append(name)
            for part, wanted in files.items():
                path = folder / f"{group.group_id}.parquet" / f"{part}.parquet"
                try:
                    table = pq.read_table(path, filters=[("entity", "in", wanted)])
                except (OSError, ValueError) as exc:
                    raise StoreError(
                        f"cannot read the feature cache file {path}: {exc}; delete the "
                        f"folder {folder} to rebuild it"
                    ) from exc
                frame = table.to_pandas()
                entity = frame["entity"].to_numpy(dtype=object)
                for name in wanted:
                    rows = frame.loc[entity == name]
                    if len(rows):
                        self._indexes[(g, name)] = _EntityIndex.of(group, rows)

    # ------------------------------------------------------------------ metadata

    def symbols(self) -> list[str]:
        """Symbols with daily prices at the configured venues, sorted."""
        self._ensure()
        return sorted(self._meta["latest_daily_available"])

    def latest_asof(self, symbol: str) -> pd.Timestamp:
        """The first daily as-of time (00:00 UTC) at which the newest daily bar is known:
        its ``available_ts`` rounded up to midnight.

        Raises:
            UnknownSymbolError: the symbol has no daily prices.
        """
        self._ensure()
        latest = self._meta["latest_daily_available"].get(symbol)
        if latest is None:
            raise UnknownSymbolError(
                [symbol], self.symbols(), f"daily prices (venues {list(self.daily_venues)})"
            )
        return pd.Timestamp(latest).tz_convert("UTC").ceil("D").as_unit("us")

    def manifest(self) -> dict[str, Any]:
        """Names, families (per feature and as declared), inputs, TTLs, the definitions
        hash and the venue preferences."""
        return {
            "definitions_hash": self.definitions.hash,
            "names": list(self.definitions.names),
            "family_names": list(self.definitions.family_names),
            "families": self.definitions.families(),
            "inputs": {d.name: list(d.inputs) for d in self.definitions},
            "ttl": {d.name: d.ttl for d in self.definitions},
            "sources": {t: list(v) for t, v in self.definitions.sources.items()},
            "daily_venues": list(self.daily_venues),
            "hourly_venues": list(self.hourly_venues),
        }

    def families(self) -> dict[str, str]:
        """Feature name -> family."""
        return self.definitions.families()

    def family_names(self) -> tuple[str, ...]:
        """The families declared in the feature repository, in declared order."""
        return self.definitions.family_names

    # ------------------------------------------------------------------ retrieval

    def _spine(self, spine: pd.DataFrame) -> _Spine:
        problems: list[Problem] = []
        if not isinstance(spine, pd.DataFrame):
            raise SchemaError(
                [Problem("spine", "not_a_frame", 1, f"expected a DataFrame, got {type(spine)}")]
            )
        missing = [c for c in ("symbol", "asof") if c not in spine.columns]
        if missing:
            raise SchemaError(
                [
                    Problem(
                        "spine",
                        "missing_columns",
                        len(missing),
                        f"expected columns symbol and asof, received {list(spine.columns)}",
                        tuple(missing),
                    )
                ]
            )
        asof = spine["asof"]
        dtype = asof.dtype
        if not isinstance(dtype, pd.DatetimeTZDtype) or str(dtype.tz) != "UTC":
            problems.append(
                Problem(
                    "spine.asof",
                    "not_utc",
                    len(spine),
                    f"expected timezone-aware UTC timestamps, received dtype {dtype}; use "
                    "pd.to_datetime(..., utc=True)",
                )
            )
        elif asof.isna().any():
            problems.append(
                Problem("spine.asof", "null_asof", int(asof.isna().sum()), "expected no NaT")
            )
        codes, uniques = pd.factorize(spine["symbol"], use_na_sentinel=True, sort=True)
        if (codes < 0).any():
            problems.append(
                Problem("spine.symbol", "null_symbol", int((codes < 0).sum()), "expected no nulls")
            )
        known = set(self.symbols())
        unknown = sorted(str(s) for s in uniques if s not in known)
        if unknown:
            problems.append(
                Problem(
                    "spine.symbol",
                    "unknown_symbol",
                    len(unknown),
                    f"expected symbols with daily prices {sorted(known)}; ingest their bars "
                    "or drop those rows",
                    tuple(unknown),
                )
            )
        if problems:
            raise SchemaError(problems)
        asof_us = np.asarray(asof.to_numpy(dtype="datetime64[us]").view("int64"))
        codes = np.asarray(codes, dtype="int64")
        order: np.ndarray | None = None
        if len(codes) > 1:
            ordered = (np.diff(codes) > 0) | ((np.diff(codes) == 0) & (np.diff(asof_us) >= 0))
            if not ordered.all():
                order = np.lexsort((asof_us, codes))
        sorted_codes = codes if order is None else codes[order]
        return _Spine(
            symbols=spine["symbol"],
            asof=asof,
            uniques=tuple(str(s) for s in uniques),
            codes=codes,
            asof_us=asof_us,
            order=order,
            sorted_asof=asof_us if order is None else asof_us[order],
            bounds=np.searchsorted(sorted_codes, np.arange(len(uniques) + 1)),
        )

    def _resolve(self, features: Sequence[str] | None) -> list[str]:
        if isinstance(features, str):
            features = [features]
        key = None if features is None else tuple(features)
        names = self._resolved.get(key)
        if names is None:
            if key is None:
                names = list(self.definitions.names)
            else:
                names = [d.name for d in self.definitions.select(list(key))]
            self._resolved[key] = names
        return list(names)

    def _gather(
        self,
        spine: pd.DataFrame,
        features: Sequence[str] | None,
        kind: Literal["value", "age", "stale"],
    ) -> pd.DataFrame:
        self._ensure()
        names = self._resolve(features)
        sp = self._spine(spine)
        n = len(sp.codes)
        out = np.empty((len(names), n), dtype="bool" if kind == "stale" else "float64")
        wanted: dict[int, list[tuple[int, int]]] = {}
        for k, name in enumerate(names):
            g, j = self._slots[name]
            wanted.setdefault(g, []).append((k, j))
        self._load(list(wanted), sp.uniques)
        for code, symbol in enumerate(sp.uniques):
            lo, hi = int(sp.bounds[code]), int(sp.bounds[code + 1])
            if hi == lo:
                continue
            rows = np.arange(lo, hi) if sp.order is None else sp.order[lo:hi]
            asof = sp.sorted_asof[lo:hi]
            for g, pairs in wanted.items():
                entity = GLOBAL_ENTITY if self._groups[g].is_global else symbol
                index = self._indexes.get((g, entity))
                if index is None:
                    for k, _ in pairs:
                        out[k, rows] = False if kind == "stale" else np.nan
                    continue
                pos = index.positions(asof)
                if kind == "value":
                    for k, j in pairs:
                        out[k, rows] = index.data[j][pos]
                    check = np.flatnonzero(asof > index.min_expiry[pos])
                    at, used = asof[check], pos[check]
                    for k, j in pairs:
                        out[k, rows[check[at > index.expiry[j, used]]]] = np.nan
                else:
                    for k, j in pairs:
                        stamps = index.value_ts[j][pos]
                        if kind == "age":
                            age = (asof - stamps) / _HOUR_US
                            out[k, rows] = np.where(stamps == _NAT, np.nan, age)
                        else:
                            out[k, rows] = asof > index.expiry[j][pos]
        frame = pd.DataFrame(out.T, columns=names, copy=False)
        frame.insert(0, "asof", sp.asof.dt.as_unit("us").array)
        frame.insert(0, "symbol", sp.symbols.array)
        return frame

    def get_features(
        self, spine: pd.DataFrame, features: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Features as known at each spine row's as-of time.

        Args:
            spine: columns ``symbol`` and ``asof`` (timezone-aware UTC); other columns are
                ignored.
            features: names to return, in that order; ``None`` for all.

        Returns:
            One row per spine row, in spine order: ``symbol``, ``asof``, then the features
            (float64). A value is used only if its row's ``available_ts <= asof``; values
            older than their TTL, and values never available, are NaN.

        Raises:
            SchemaError: missing columns, naive or non-UTC ``asof``, nulls, unknown symbols.
            FeatureDefinitionError: unknown or repeated feature names.
        """
        return self._gather(spine, features, "value")

    def feature_ages(
        self, spine: pd.DataFrame, features: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Hours between each spine row's ``asof`` and the ``event_ts`` of the value that
        :meth:`get_features` would use (ignoring the TTL); NaN where there is none.

        Raises:
            SchemaError: invalid spine (see :meth:`get_features`).
            FeatureDefinitionError: unknown or repeated feature names.
        """
        return self._gather(spine, features, "age")

    def stale(self, spine: pd.DataFrame, features: Sequence[str] | None = None) -> pd.DataFrame:
        """True where a value was available but is older than its TTL (so it is NaN in
        :meth:`get_features`).

        Raises:
            SchemaError: invalid spine (see :meth:`get_features`).
            FeatureDefinitionError: unknown or repeated feature names.
        """
        return self._gather(spine, features, "stale")

    def export(
        self,
        symbols: Sequence[str],
        start: pd.Timestamp | str,
        end: pd.Timestamp | str,
        freq: Literal["1d", "1h"] = "1d",
    ) -> pd.DataFrame:
        """Features on a regular grid of as-of times.

        Args:
            symbols: symbols, in output order.
            start: first as-of time (inclusive; rounded up to the grid).
            end: last as-of time (inclusive; rounded down to the grid).
            freq: ``1d`` (00:00 UTC each day) or ``1h`` (each hour).

        Returns:
            Columns ``symbol, asof`` and the features, symbol-major.

        Raises:
            SchemaError: unknown ``freq``, naive timestamps, ``end`` before ``start``, or
                unknown symbols.
        """
        problems: list[Problem] = []
        if freq not in _FREQS:
            problems.append(
                Problem("freq", "unknown_freq", 1, f"expected '1d' or '1h', received {freq!r}")
            )
        bounds = []
        for label, value in (("start", start), ("end", end)):
            stamp = pd.Timestamp(value)
            if stamp.tzinfo is None:
                problems.append(
                    Problem(
                        label,
                        "naive_timestamp",
                        1,
                        f"expected a timezone-aware UTC timestamp, received {value!r}",
                    )
                )
            bounds.append(stamp)
        if problems:
            raise SchemaError(problems)
        step = _FREQS[freq]
        first = bounds[0].tz_convert("UTC").ceil(step)
        last = bounds[1].tz_convert("UTC").floor(step)
        if last < first:
            raise SchemaError(
                [
                    Problem(
                        "end",
                        "empty_range",
                        1,
                        f"no {freq} as-of time between {bounds[0]} and {bounds[1]}; pass an "
                        "end at or after start",
                    )
                ]
            )
        times = pd.date_range(first, last, freq=step).as_unit("us")
        names = list(symbols)
        spine = pd.DataFrame(
            {
                "symbol": pd.array(np.repeat(np.array(names, dtype=object), len(times)), "str"),
                "asof": times.take(np.tile(np.arange(len(times)), len(names))),
            }
        )
        return self.get_features(spine)
