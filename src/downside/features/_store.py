"""The feature store: cached per-group feature tables and point-in-time retrieval.

Group tables (see :mod:`downside.features._compute`) are cached as Parquet under
``<store root>/features/<key>/`` where ``key`` digests ``Store.version``, the definitions
hash and the price venue preferences; a change of any of them builds a new cache on
first use. Files are written to a temporary name and moved into place with
``os.replace``; ``manifest.json`` is written last and marks the cache complete.

Retrieval is an as-of join on ``available_ts``: for each spine row ``(symbol, asof)`` and
each group, the newest row of the symbol's entity with ``available_ts <= asof`` (one
vectorised ``searchsorted`` over a combined entity/time key per group, no loop over rows
or symbols). A value older than its TTL at ``asof`` (by its ``event_ts``) is NaN.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from downside.config import Settings, load_settings
from downside.errors import Problem, SchemaError, StoreError, UnknownSymbolError
from downside.features._compute import (
    TS_DTYPE,
    VALUE_TS_SUFFIX,
    Group,
    SourceReader,
    compute_group,
    plan_groups,
)
from downside.features._definitions import FeatureSet, load_definitions
from downside.features._protocols import StoreReader

CACHE_FORMAT = 1
_NAT = np.iinfo(np.int64).min
_MAX = np.iinfo(np.int64).max
_HOUR_US = 3_600_000_000
_FREQS = {"1d": "1D", "1h": "1h"}


@dataclass
class _GroupIndex:
    """One group ready for as-of lookups.

    Rows are sorted by entity then ``available_ts``; per-feature arrays are stored
    feature-major and end with a sentinel row (NaN value, no timestamp) used where no
    row is available. ``expiry`` is ``value_ts + ttl`` (int64 max where there is no
    value) and ``min_expiry`` its minimum over the features of a row, so rows whose
    as-of time is before ``min_expiry`` skip the per-feature TTL check.
    """

    names: tuple[str, ...]
    is_global: bool
    entities: tuple[str, ...]
    entity_code: np.ndarray
    available: np.ndarray
    data: np.ndarray
    value_ts: np.ndarray
    expiry: np.ndarray
    min_expiry: np.ndarray

    @classmethod
    def of(cls, group: Group, frame: pd.DataFrame) -> _GroupIndex:
        names = tuple(d.name for d in group.definitions)
        entity, codes = np.unique(frame["entity"].to_numpy(dtype=object), return_inverse=True)
        order = np.lexsort((_us(frame["available_ts"]), codes))
        rows = len(frame) + 1
        values = np.full((len(names), rows), np.nan)
        value_ts = np.full((len(names), rows), _NAT, dtype="int64")
        expiry = np.full((len(names), rows), _MAX, dtype="int64")
        for j, definition in enumerate(group.definitions):
            values[j, :-1] = frame[definition.name].to_numpy(dtype="float64")[order]
            stamps = _us(frame[definition.name + VALUE_TS_SUFFIX])[order]
            value_ts[j, :-1] = stamps
            ttl = definition.ttl_value.value // 1000
            expiry[j, :-1] = np.where(stamps == _NAT, _MAX, stamps + ttl)
        return cls(
            names=names,
            is_global=group.is_global,
            entities=tuple(str(e) for e in entity),
            entity_code=np.append(codes[order].astype("int64"), -1),
            available=np.append(_us(frame["available_ts"])[order], _NAT),
            data=values,
            value_ts=value_ts,
            expiry=expiry,
            min_expiry=expiry.min(axis=0) if len(names) else np.full(rows, _MAX),
        )

    def positions(self, spine: _Spine) -> np.ndarray:
        """Row used for each spine row, in spine order (the sentinel where none is).

        The spine is visited in (symbol, asof) order, one vectorised ``searchsorted`` per
        symbol over that entity's slice of rows.
        """
        sentinel = len(self.available) - 1
        pos = np.full(len(spine.codes), sentinel, dtype="int64")
        if sentinel == 0:
            return pos
        starts = np.searchsorted(self.entity_code[:-1], np.arange(len(self.entities) + 1))
        lookup = {e: i for i, e in enumerate(self.entities)}
        for code, symbol in enumerate(spine.uniques):
            entity = 0 if self.is_global else lookup.get(symbol, -1)
            if entity < 0:
                continue
            lo, hi = spine.bounds[code], spine.bounds[code + 1]
            first, last = starts[entity], starts[entity + 1]
            found = np.searchsorted(
                self.available[first:last], spine.sorted_asof[lo:hi], side="right"
            )
            pos[lo:hi] = np.where(found > 0, found - 1 + first, sentinel)
        if spine.order is None:
            return pos
        out = np.empty_like(pos)
        out[spine.order] = pos
        return out


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
        self._indexes: list[_GroupIndex] = []
        self._slots: dict[str, tuple[int, int]] = {}
        self._meta: dict[str, Any] = {}

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

    def build(self) -> FeatureStore:
        """Recompute every group from the store and rewrite the cache; returns ``self``.

        Raises:
            SchemaError: a source selection is ambiguous in the stored data.
            StoreError: the cache cannot be written.
        """
        key = self.cache_key()
        reader = SourceReader(
            self.store, self.definitions.sources, self.daily_venues, self.hourly_venues
        )
        frames = [compute_group(group, reader) for group in self._groups]
        daily = reader.prices("1d")
        latest = (
            daily.groupby("symbol")["available_ts"].max()
            if not daily.empty
            else pd.Series(dtype=TS_DTYPE)
        )
        meta = {
            "format": CACHE_FORMAT,
            "key": key,
            "store_version": self.store.version,
            "definitions_hash": self.definitions.hash,
            "groups": [g.group_id for g in self._groups],
            "latest_daily_available": {str(s): ts.isoformat() for s, ts in latest.items()},
        }
        self._write(key, frames, meta)
        self._install(key, frames, meta)
        return self

    def _write(self, key: str, frames: Sequence[pd.DataFrame], meta: dict[str, Any]) -> None:
        folder = self.cache_dir / key
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for group, frame in zip(self._groups, frames, strict=True):
                tmp = folder / f".{group.group_id}.{uuid.uuid4().hex}.tmp"
                frame.to_parquet(tmp, index=False)
                os.replace(tmp, folder / f"{group.group_id}.parquet")
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

    def _install(self, key: str, frames: Sequence[pd.DataFrame], meta: dict[str, Any]) -> None:
        self._indexes = [
            _GroupIndex.of(group, frame) for group, frame in zip(self._groups, frames, strict=True)
        ]
        self._slots = {
            name: (g, j)
            for g, index in enumerate(self._indexes)
            for j, name in enumerate(index.names)
        }
        self._meta = meta
        self._key = key

    def _ensure(self) -> None:
        key = self.cache_key()
        if key == self._key:
            return
        folder = self.cache_dir / key
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            self.build()
            return
        try:
            meta = json.loads(manifest.read_text(encoding="utf-8"))
            frames = [pd.read_parquet(folder / f"{g.group_id}.parquet") for g in self._groups]
        except (OSError, ValueError):
            self.build()
            return
        self._install(key, frames, meta)

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
        for g, pairs in wanted.items():
            index = self._indexes[g]
            pos = index.positions(sp)
            if kind == "value":
                for k, j in pairs:
                    np.take(index.data[j], pos, out=out[k])
                check = np.flatnonzero(sp.asof_us > index.min_expiry[pos])
                at, rows = sp.asof_us[check], pos[check]
                for k, j in pairs:
                    out[k, check[at > index.expiry[j, rows]]] = np.nan
            else:
                for k, j in pairs:
                    stamps = index.value_ts[j][pos]
                    if kind == "age":
                        age = (sp.asof_us - stamps) / _HOUR_US
                        out[k] = np.where(stamps == _NAT, np.nan, age)
                    else:
                        out[k] = sp.asof_us > index.expiry[j][pos]
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
