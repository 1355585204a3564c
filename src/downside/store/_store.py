"""The point-in-time store: validated, idempotent, atomic Parquet tables under one manifest.

Layout under ``root``::

    manifest.json            the only entry point: table -> immutable Parquet file
    data/<table>-<uuid>.parquet
    .ingest.lock             inter-process write lock (filelock)

An ingest validates every input table first (all problems at once, nothing written on
failure), then, under the lock, writes a new Parquet file for each table whose rows
changed, fsyncs it, writes a new manifest next to the old one and switches it with
``os.replace``. Readers load one manifest snapshot without the lock, so they see either
the old or the new store, never a mix. Files no manifest references (left by a killed
ingest, or replaced by the previous ingest) are deleted at the start of the next ingest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import filelock
import numpy as np
import pandas as pd

from downside.config import Settings
from downside.errors import (
    ConfigError,
    EmptyStoreError,
    InvalidNameError,
    Problem,
    SchemaError,
    StoreError,
    StoreLockedError,
    StoreQueryError,
)
from downside.sources import TABLES, read_files
from downside.store._report import IngestReport, TableIngest
from downside.store._rules import PublicationRules
from downside.store._stitch import spans, stitch
from downside.store._validate import (
    DEFAULT_OHLC_TOLERANCE,
    TS_DTYPE,
    check_name,
    normalize,
    validate,
)

log = logging.getLogger("downside.store")

MANIFEST_NAME = "manifest.json"
DATA_DIR = "data"
LOCK_NAME = ".ingest.lock"
FORMAT_VERSION = 1
EMPTY_VERSION = "empty"
PAUSE_BEFORE_SWITCH_ENV = "DOWNSIDE_STORE_PAUSE_BEFORE_SWITCH_S"
"""Environment variable of the ``store_pause_before_switch_s`` setting (a test hook)."""

DEFAULT_DAILY_VENUES: tuple[str, ...] = (
    "coinbase_spot",
    "binance_spot",
    "binance_usdm_perp",
    "cryptoquant_spot_all_exchanges",
    "sim_spot",
)
DEFAULT_HOURLY_VENUES: tuple[str, ...] = (
    "binance_spot",
    "binance_usdm_perp",
    "glassnode_market_price",
    "sim_spot",
)
"""Test seam: seconds an ingest sleeps after writing its Parquet files and the new
manifest, just before switching the manifest (so a test can kill it there)."""

Freq = Literal["1d", "1h"]
_PRICE_TABLES: dict[str, str] = {"1d": "ohlcv_daily", "1h": "ohlcv_hourly"}
_READ_RETRIES = 3


@dataclass(frozen=True)
class _Entry:
    """One table in the manifest."""

    file: str
    sha256: str
    rows: int
    first_event_ts: str
    last_event_ts: str
    last_available_ts: str

    @classmethod
    def of(cls, file: str, sha256: str, frame: pd.DataFrame) -> _Entry:
        return cls(
            file=file,
            sha256=sha256,
            rows=len(frame),
            first_event_ts=frame["event_ts"].min().isoformat(),
            last_event_ts=frame["event_ts"].max().isoformat(),
            last_available_ts=frame["available_ts"].max().isoformat(),
        )


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same(new: pd.Series, old: pd.Series) -> np.ndarray:
    """Element-wise equality where two missing values count as equal."""
    equal = (new == old).fillna(False).to_numpy(dtype=bool)
    both_missing = (new.isna() & old.isna()).to_numpy(dtype=bool)
    return np.asarray(equal | both_missing)


def _as_list(values: Sequence[str] | str) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


class Store:
    """Point-in-time store of the canonical raw tables.

    Args:
        root: folder of the store (created by the first ingest).
        rules: publication rules; default :meth:`PublicationRules.default`.
        lock_timeout_s: seconds an ingest waits for another ingest to finish.
        daily_venues: default daily venue preference (spans in :class:`IngestReport`).
        hourly_venues: default hourly venue preference.
        ohlc_tolerance: relative slack for open/close outside [low, high] before a bar
            is rejected (within it the bar is kept and reported as a warning).
        pause_before_switch_s: test hook: seconds an ingest sleeps before switching the
            manifest (kill tests use it to interrupt an ingest at that moment).

    Raises:
        ConfigError: negative timeout or tolerance.
        InvalidNameError: a venue name is unfit for a file or table name.
    """

    def __init__(
        self,
        root: Path | str,
        rules: PublicationRules | None = None,
        lock_timeout_s: float = 600.0,
        *,
        daily_venues: Sequence[str] = DEFAULT_DAILY_VENUES,
        hourly_venues: Sequence[str] = DEFAULT_HOURLY_VENUES,
        ohlc_tolerance: float = DEFAULT_OHLC_TOLERANCE,
        pause_before_switch_s: float = 0.0,
    ) -> None:
        if lock_timeout_s < 0 or ohlc_tolerance < 0:
            raise ConfigError(
                f"lock_timeout_s and ohlc_tolerance must be >= 0, received {lock_timeout_s} "
                f"and {ohlc_tolerance}; pass non-negative values"
            )
        self.root = Path(root)
        self.rules = rules if rules is not None else PublicationRules.default()
        self.lock_timeout_s = float(lock_timeout_s)
        self.daily_venues = tuple(check_name("venue", v) for v in daily_venues)
        self.hourly_venues = tuple(check_name("venue", v) for v in hourly_venues)
        self.ohlc_tolerance = float(ohlc_tolerance)
        self.pause_before_switch_s = float(pause_before_switch_s)
        self._cache: dict[str, pd.DataFrame] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store at ``settings.store_dir`` with the settings' timeout, ETF hour and venues.

        Raises:
            ConfigError: invalid settings values.
            InvalidNameError: a configured venue name is invalid.
        """
        return cls(
            settings.store_dir,
            PublicationRules.default(etf_hour_utc=settings.etf_flow_publication_hour_utc),
            settings.lock_timeout_s,
            daily_venues=settings.daily_venues or DEFAULT_DAILY_VENUES,
            hourly_venues=settings.hourly_venues or DEFAULT_HOURLY_VENUES,
            pause_before_switch_s=settings.store_pause_before_switch_s,
        )

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ------------------------------------------------------------------ manifest

    @property
    def _manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def _data_dir(self) -> Path:
        return self.root / DATA_DIR

    def _load_manifest(self) -> dict[str, _Entry]:
        path = self._manifest_path
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"cannot read the store manifest {path}: {exc}; expected the JSON written "
                "by downside; restore it from a backup or delete the store folder and ingest "
                "again"
            ) from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT_VERSION:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise StoreError(
                f"store manifest {path} has format {found!r}, expected {FORMAT_VERSION}; "
                "it was written by another version of downside: re-ingest into a new store"
            )
        return {name: _Entry(**entry) for name, entry in raw["tables"].items()}

    @staticmethod
    def _version_of(manifest: Mapping[str, _Entry]) -> str:
        if not manifest:
            return EMPTY_VERSION
        content = json.dumps({t: e.sha256 for t, e in sorted(manifest.items())})
        return hashlib.sha256(content.encode()).hexdigest()[:16]

    def _write_manifest(self, manifest: Mapping[str, _Entry]) -> None:
        payload = {
            "format": FORMAT_VERSION,
            "written_at": pd.Timestamp.now(tz="UTC").isoformat(),
            "tables": {name: vars(entry) for name, entry in sorted(manifest.items())},
        }
        tmp = self.root / f"{MANIFEST_NAME}.{uuid.uuid4().hex}.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        if self.pause_before_switch_s:
            log.info(
                "pausing %s s before the manifest switch (test hook)", self.pause_before_switch_s
            )
            time.sleep(self.pause_before_switch_s)
        os.replace(tmp, self._manifest_path)
        _fsync_dir(self.root)

    def _collect_garbage(self, manifest: Mapping[str, _Entry]) -> None:
        referenced = {entry.file for entry in manifest.values()}
        if self._data_dir.is_dir():
            for path in self._data_dir.iterdir():
                if path.name not in referenced:
                    path.unlink(missing_ok=True)
        for path in self.root.glob(f"{MANIFEST_NAME}.*.tmp"):
            path.unlink(missing_ok=True)

    def _read_file(self, entry: _Entry) -> pd.DataFrame:
        cached = self._cache.get(entry.file)
        if cached is None:
            cached = pd.read_parquet(self._data_dir / entry.file)
            self._remember(entry.file, cached)
        return cached.copy()

    def _remember(self, file: str, frame: pd.DataFrame) -> None:
        """Cache a table file's frame (files are immutable); keep one per table at most."""
        self._cache = {file: frame, **self._cache}
        for stale in list(self._cache)[len(TABLES) :]:
            del self._cache[stale]

    def _table_frame(self, table: str) -> pd.DataFrame:
        for _ in range(_READ_RETRIES):
            entry = self._load_manifest().get(table)
            if entry is None:
                raise EmptyStoreError(
                    f"table {table!r} has no rows in the store {self.root}; ingest it first "
                    "(`downside ingest DIR` or Store.ingest_files(DIR))"
                )
            try:
                return self._read_file(entry)
            except FileNotFoundError:
                log.debug("file %s replaced by a concurrent ingest; re-reading", entry.file)
        raise StoreError(
            f"table {table!r} kept changing under concurrent ingests in {self.root}; "
            f"tried {_READ_RETRIES} manifest snapshots; retry when ingests are done"
        )

    # ------------------------------------------------------------------ reading

    @property
    def version(self) -> str:
        """A string that changes whenever stored data changes (``empty`` for no data)."""
        return self._version_of(self._load_manifest())

    @property
    def is_empty(self) -> bool:
        """Whether no table has rows."""
        return not self._load_manifest()

    def tables(self) -> list[str]:
        """Names of the stored tables, sorted."""
        return sorted(self._load_manifest())

    def fingerprint(self) -> dict[str, dict[str, int | str]]:
        """Per table: ``rows``, ``first_event_ts``, ``last_event_ts``, ``last_available_ts``
        (ISO 8601 strings), from one manifest snapshot; for MLflow logging."""
        return {
            name: {
                "rows": entry.rows,
                "first_event_ts": entry.first_event_ts,
                "last_event_ts": entry.last_event_ts,
                "last_available_ts": entry.last_available_ts,
            }
            for name, entry in sorted(self._load_manifest().items())
        }

    def read(
        self,
        table: str,
        *,
        symbols: Sequence[str] | None = None,
        available_by: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Rows of ``table`` as stored.

        Args:
            table: canonical table name.
            symbols: keep these symbols only (the ``symbol`` key, or ``asset`` for
                ``etf_flows_daily``); ``None`` keeps all.
            available_by: keep rows with ``available_ts <= available_by`` (tz-aware).

        Returns:
            Columns ``event_ts``, ``available_ts``, the keys, the values; sorted by the
            keys then ``event_ts``; possibly empty after filtering.

        Raises:
            InvalidNameError: ``table`` is not a canonical table.
            EmptyStoreError: the table was never ingested.
            StoreQueryError: ``available_by`` is naive, or ``symbols`` was given for a
                table without a symbol column.
        """
        spec = TABLES.get(table)
        if spec is None:
            raise InvalidNameError("table", table, f"one of {sorted(TABLES)}")
        problems: list[str] = []
        symbol_column = next((c for c in ("symbol", "asset") if c in spec.keys), None)
        if symbols is not None and symbol_column is None:
            problems.append(
                f"symbols were given but table {table!r} has keys {list(spec.keys)} and no "
                "symbol; pass symbols=None and filter on its keys"
            )
        if available_by is not None and pd.Timestamp(available_by).tzinfo is None:
            problems.append(
                f"available_by must be a timezone-aware UTC timestamp, received naive "
                f"{available_by}; use pd.Timestamp(..., tz='UTC')"
            )
        if problems:
            raise StoreQueryError(f"invalid read of {table!r}: " + "; ".join(problems))
        frame = self._table_frame(table)
        mask = np.ones(len(frame), dtype=bool)
        if symbols is not None and symbol_column is not None:
            mask &= frame[symbol_column].isin(_as_list(symbols)).to_numpy()
        if available_by is not None:
            cutoff = pd.Timestamp(available_by).tz_convert("UTC")
            mask &= (frame["available_ts"] <= cutoff).to_numpy()
        if mask.all():
            return frame
        return frame.loc[mask].reset_index(drop=True)

    def prices(
        self,
        freq: Freq,
        venues: Sequence[str],
        symbols: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One continuous OHLCV series per symbol, stitched by venue preference.

        For each bar time the first venue in ``venues`` that has the bar serves it;
        venues not listed are not used.

        Args:
            freq: ``1d`` (``ohlcv_daily``) or ``1h`` (``ohlcv_hourly``).
            venues: venue preference, best first.
            symbols: symbols to return; ``None`` for all.

        Returns:
            Columns ``symbol, event_ts, available_ts, open, high, low, close,
            volume_base, venue``, sorted by symbol then ``event_ts``.

        Raises:
            StoreQueryError: unknown ``freq`` or an empty venue list.
            EmptyStoreError: the table was never ingested, or a requested symbol has no
                bar at any of the venues.
        """
        table = self._price_table(freq, venues)
        frame = self.read(table, symbols=symbols)
        stitched = stitch(frame, venues)
        if symbols is not None:
            missing = sorted(set(_as_list(symbols)) - set(stitched["symbol"].unique()))
            if missing:
                known = sorted(self.read(table)["symbol"].unique())
                raise EmptyStoreError(
                    f"no {freq} bars for symbols {missing} at venues {list(venues)} in "
                    f"{table}; symbols in the table: {known}; ingest them or widen the "
                    "venue list"
                )
        return stitched

    def venue_spans(self, freq: Freq, venues: Sequence[str]) -> pd.DataFrame:
        """Which venue served which run of bars per symbol in :meth:`prices`.

        Returns:
            Columns ``symbol, venue, first_ts, last_ts, bars``, sorted by symbol then
            ``first_ts``.

        Raises:
            StoreQueryError: unknown ``freq`` or an empty venue list.
            EmptyStoreError: the table was never ingested.
        """
        table = self._price_table(freq, venues)
        return spans(stitch(self.read(table), venues))

    @staticmethod
    def _price_table(freq: str, venues: Sequence[str]) -> str:
        problems = []
        if freq not in _PRICE_TABLES:
            problems.append(f"freq must be '1d' or '1h', received {freq!r}")
        if isinstance(venues, str) or not list(venues):
            problems.append(
                f"venues must be a non-empty list of venue names, best first, received {venues!r}"
            )
        if problems:
            raise StoreQueryError("invalid price request: " + "; ".join(problems))
        return _PRICE_TABLES[freq]

    # ------------------------------------------------------------------ writing

    def ingest(self, tables: Mapping[str, pd.DataFrame], *, origin: str) -> IngestReport:
        """Validate and upsert raw tables (keyed by table name), atomically.

        A table with no rows (but the canonical columns) is valid and changes nothing:
        it is reported with 0 rows read and an ``empty_table`` warning.

        Args:
            tables: canonical table name -> frame with ``ts``, keys and value columns.
            origin: label for problems and the report (``simulated``, ``binance``, ...).

        Returns:
            Counts per table, versions before and after, warnings and venue spans.

        Raises:
            SchemaError: any table broke a rule (every problem listed); nothing written.
            StoreLockedError: another ingest held the lock for ``lock_timeout_s``.
            StoreError: the stored manifest is unreadable, or a publication rule is not
                monotone.
        """
        items = [(name, f"{origin}:{name}", frame) for name, frame in tables.items()]
        return self._ingest(items, origin)

    def ingest_files(self, directory: Path) -> IngestReport:
        """Read ``<table>.parquet|csv`` files from ``directory`` and its subfolders and
        ingest them in one go.

        Files are found as :func:`downside.sources.read_files` finds them: recursively,
        suffixes in any case, each table from exactly one file (the same table in two
        subfolders is an error, not an order). A file with a header but no rows is valid
        and changes nothing (see :meth:`ingest`).

        Raises:
            SchemaError: unreadable, unknown or repeated table files, files of a table in
                an unsupported format, or rows breaking a rule (every problem listed);
                nothing written.
            StoreLockedError: another ingest held the lock for ``lock_timeout_s``.
            StoreError: the stored manifest is unreadable.
        """
        files = read_files(Path(directory))
        items = [(raw.table, str(raw.path), raw.frame) for raw in files]
        return self._ingest(items, str(directory))

    def _prepare(
        self, items: Sequence[tuple[str, str, pd.DataFrame]], origin: str
    ) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
        problems: list[Problem] = []
        warnings: list[Problem] = []
        if not items:
            problems.append(
                Problem(origin, "no_tables", 0, f"expected at least one of {sorted(TABLES)}")
            )
        seen: dict[str, str] = {}
        for table, source, frame in items:
            if table in seen:
                problems.append(
                    Problem(
                        source,
                        "duplicate_table",
                        1,
                        f"table {table} also given by {seen[table]}; pass each table once",
                    )
                )
            seen[table] = source
            findings = validate(table, frame, source, ohlc_tolerance=self.ohlc_tolerance)
            problems.extend(findings.problems)
            warnings.extend(findings.warnings)
        if problems:
            raise SchemaError(problems)
        prepared: dict[str, pd.DataFrame] = {}
        for table, _source, frame in items:
            stored = normalize(table, frame)
            stored.insert(1, "available_ts", self.rules.available_ts(table, stored))
            keys = list(TABLES[table].keys)
            stored = stored.sort_values([*keys, "event_ts"], kind="stable", ignore_index=True)
            self._check_monotone(table, stored, keys)
            prepared[table] = stored
        return prepared, warnings

    @staticmethod
    def _check_monotone(table: str, frame: pd.DataFrame, keys: list[str]) -> None:
        available = frame["available_ts"]
        same_series = np.ones(len(frame), dtype=bool)
        for key in keys:
            values = frame[key].to_numpy()
            same_series[1:] &= values[1:] == values[:-1]
        same_series[:1] = False  # the first row has no predecessor (and an empty table none)
        earlier = (available.diff() < pd.Timedelta(0)).to_numpy(dtype=bool) & same_series
        before_event = (available < frame["event_ts"]).to_numpy(dtype=bool)
        bad = earlier | before_event | available.isna().to_numpy(dtype=bool)
        if bad.any():
            rows = frame.loc[bad, [*keys, "event_ts", "available_ts"]].head(3)
            examples = "; ".join(
                " ".join(str(v) for v in row) for row in rows.itertuples(index=False, name=None)
            )
            raise StoreError(
                f"publication rules for {table} give available_ts that decrease with "
                f"event_ts or precede it in {int(bad.sum())} rows (keys, event_ts, "
                f"available_ts: {examples}); expected a rule that is monotone and never "
                "earlier than the event; fix the custom PublicationRules"
            )

    def _lock(self) -> filelock.BaseFileLock:
        return filelock.FileLock(str(self.root / LOCK_NAME), timeout=self.lock_timeout_s)

    def _ingest(self, items: Sequence[tuple[str, str, pd.DataFrame]], origin: str) -> IngestReport:
        prepared, warnings = self._prepare(items, origin)
        sources = {table: source for table, source, _ in items}
        self.root.mkdir(parents=True, exist_ok=True)
        lock = self._lock()
        started = time.monotonic()
        try:
            lock.acquire()
        except filelock.Timeout as exc:
            raise StoreLockedError(str(lock.lock_file), time.monotonic() - started) from exc
        try:
            return self._upsert_locked(prepared, sources, warnings, origin)
        finally:
            lock.release()

    def _upsert_locked(
        self,
        prepared: Mapping[str, pd.DataFrame],
        sources: Mapping[str, str],
        warnings: Sequence[Problem],
        origin: str,
    ) -> IngestReport:
        manifest = self._load_manifest()
        self._collect_garbage(manifest)
        version_before = self._version_of(manifest)
        new_manifest = dict(manifest)
        finals: dict[str, pd.DataFrame] = {}
        counts: list[TableIngest] = []
        for table, new in prepared.items():
            old = self._read_file(manifest[table]) if table in manifest else None
            merged, inserted, updated = _upsert(table, old, new)
            if inserted or updated:
                new_manifest[table] = self._write_table(table, merged)
            finals[table] = merged
            counts.append(
                TableIngest(
                    table=table,
                    source=sources[table],
                    rows_read=len(new),
                    inserted=inserted,
                    updated=updated,
                    unchanged=len(new) - inserted - updated,
                    total_rows=len(merged),
                )
            )
        if new_manifest != manifest:
            self._write_manifest(new_manifest)
        version_after = self._version_of(new_manifest)
        log.info("ingest %s: version %s -> %s", origin, version_before, version_after)
        venue_spans: dict[str, pd.DataFrame] = {}
        for freq, table in _PRICE_TABLES.items():
            venues = self.daily_venues if freq == "1d" else self.hourly_venues
            if table in finals:
                venue_spans[freq] = spans(stitch(finals[table], venues))
            elif table in new_manifest:
                venue_spans[freq] = spans(stitch(self._read_file(new_manifest[table]), venues))
        return IngestReport(
            origin=origin,
            tables=tuple(counts),
            version_before=version_before,
            version_after=version_after,
            warnings=tuple(warnings),
            venue_spans=venue_spans,
        )

    def _write_table(self, table: str, frame: pd.DataFrame) -> _Entry:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        name = f"{table}-{uuid.uuid4().hex}.parquet"
        path = self._data_dir / name
        with path.open("wb") as fh:
            frame.to_parquet(fh, index=False, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(self._data_dir)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self._remember(name, frame)
        return _Entry.of(name, digest, frame)


def _upsert(
    table: str, old: pd.DataFrame | None, new: pd.DataFrame
) -> tuple[pd.DataFrame, int, int]:
    """Merge ``new`` into ``old`` on (event_ts, keys); returns (merged, inserted, updated)."""
    keys = list(TABLES[table].keys)
    key_cols = ["event_ts", *keys]
    if old is None or old.empty:
        return new, len(new), 0
    values = [c for c in new.columns if c not in key_cols]
    both = new.merge(old, on=key_cols, how="left", suffixes=("", "__old"), indicator=True)
    is_new = (both["_merge"] == "left_only").to_numpy(dtype=bool)
    same = np.ones(len(both), dtype=bool)
    for column in values:
        same &= _same(both[column], both[f"{column}__old"])
    changed = ~is_new & ~same
    inserted, updated = int(is_new.sum()), int(changed.sum())
    if not inserted and not updated:
        return old, 0, 0
    merged = pd.concat([old, new.loc[is_new | changed]], ignore_index=True)
    merged = merged.drop_duplicates(subset=key_cols, keep="last")
    merged = merged.sort_values([*keys, "event_ts"], kind="stable", ignore_index=True)
    merged["event_ts"] = merged["event_ts"].astype(TS_DTYPE)
    merged["available_ts"] = merged["available_ts"].astype(TS_DTYPE)
    return merged, inserted, updated
