"""The point-in-time store: validated, idempotent, atomic and versioned Parquet tables.

Layout under ``root``::

    manifest.json              the current version: table -> Parquet parts (a copy of
                               its record)
    versions/<number>.json     one immutable record per version (history, rollback)
    data/<table>-<uuid>.parquet  immutable parts; a table is the union of its parts
    .ingest.lock               inter-process write lock (filelock)

An ingest validates every input table first (all problems at once, nothing written on
failure), then, under the lock, merges each table with its stored rows, checks the rules
that need them (price jumps, venue mismatches, missing values replacing stored ones),
writes one new part per changed table (only the inserted and changed rows; see
:meth:`Store._write_entry` for how parts are merged), fsyncs it, writes the version
record and then switches ``manifest.json`` with ``os.replace``. Readers load one
manifest snapshot without the lock, so they see either the old or the new store, never
a mix. An ingest that changes nothing writes nothing.

Every part's size and SHA-256 are in the records: a read checks both before it trusts a
file (hashing costs about 11 ms for the 7 MB hourly table), :meth:`Store.verify` checks
every kept version. Versions are kept until :meth:`Store.vacuum`; files no kept version
references (left by a killed ingest) are deleted at the start of the next write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreQueryError,
    UnknownVersionError,
)
from downside.sources import TABLES, read_files
from downside.store._plausible import (
    DEFAULT_JUMP_LIMIT,
    DEFAULT_VENUE_LIMIT,
    null_overwrite_problems,
    price_problems,
)
from downside.store._report import IngestReport, TableIngest
from downside.store._rules import PublicationRules
from downside.store._stitch import spans, stitch
from downside.store._tables import RECORD_TABLES, STORE_TABLES, is_record
from downside.store._validate import (
    DEFAULT_OHLC_TOLERANCE,
    TS_DTYPE,
    check_name,
    normalize,
    validate,
)
from downside.store._versions import (
    FileProblem,
    Operation,
    Part,
    Snapshot,
    StoreVersion,
    TableChange,
    TableEntry,
    VacuumReport,
    VerifyReport,
    content_id,
)

log = logging.getLogger("downside.store")

MANIFEST_NAME = "manifest.json"
DATA_DIR = "data"
VERSIONS_DIR = "versions"
LOCK_NAME = ".ingest.lock"
MAX_PARTS = 8
"""Parts a table may have before an ingest rewrites it as one part."""
PAUSE_BEFORE_SWITCH_ENV = "DOWNSIDE_STORE_PAUSE_BEFORE_SWITCH_S"
"""Environment variable of the ``store_pause_before_switch_s`` setting (a test hook:
seconds an ingest sleeps after writing its parts and version record, just before
switching the manifest, so a test can kill it there)."""

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

Freq = Literal["1d", "1h"]
_PRICE_TABLES: dict[str, str] = {"1d": "ohlcv_daily", "1h": "ohlcv_hourly"}
IngestProgress = Callable[[str, int, int], None]
"""``progress(step, done, total)``: an ingest's steps (validating, then merging each
table), called before each and once at the end with ``done == total``."""

_ENTITY_COLUMNS = ("symbol", "asset", "series", "stablecoin")
_READ_RETRIES = 3


def _silent(step: str, done: int, total: int) -> None:
    """No progress shown."""


def _utcnow() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` to a temporary file beside ``path``, fsynced; return the temp."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def _same(new: pd.Series, old: pd.Series) -> np.ndarray:
    """Element-wise equality where two missing values count as equal."""
    equal = (new == old).fillna(False).to_numpy(dtype=bool)
    both_missing = (new.isna() & old.isna()).to_numpy(dtype=bool)
    return np.asarray(equal | both_missing)


def _as_list(values: Sequence[str] | str) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


def _stored_order(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Unique keys (the last row of a key wins), sorted by keys then ``event_ts``.

    Sorts integer codes of the keys with :func:`numpy.lexsort`: several times faster
    than sorting the text columns, and the same order (codes follow the sorted values).
    """
    keys = list(STORE_TABLES[table].keys)
    codes = [pd.factorize(frame[key], sort=True)[0] for key in keys]
    event = np.asarray(pd.DatetimeIndex(frame["event_ts"]).as_unit("us").asi8)
    order = np.lexsort((np.arange(len(frame)), event, *reversed(codes)))
    last = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        same = event[order][1:] == event[order][:-1]
        for code in codes:
            same &= code[order][1:] == code[order][:-1]
        last[:-1] = ~same  # a row followed by one of the same key is replaced by it
    out = frame.iloc[order[last]].reset_index(drop=True)
    out["event_ts"] = out["event_ts"].astype(TS_DTYPE)
    out["available_ts"] = out["available_ts"].astype(TS_DTYPE)
    return out


@dataclass
class _Merge:
    """A table's upsert: the table after it, the rows to write, and what changed."""

    merged: pd.DataFrame
    delta: pd.DataFrame
    touched: np.ndarray
    inserted: int
    updated: int
    problems: list[Problem]


def _data_id(entries: Mapping[str, TableEntry]) -> str:
    """:func:`content_id` of the raw tables only (record tables are not market data)."""
    return content_id({name: entry for name, entry in entries.items() if not is_record(name)})


def _append_only_problem(
    table: str, both: pd.DataFrame, changed: np.ndarray, source: str
) -> Problem:
    keys = ["event_ts", *STORE_TABLES[table].keys]
    examples = tuple(
        " ".join(f"{k}={row[k]}" for k in keys)
        for _, row in both.loc[changed, keys].head(3).iterrows()
    )
    return Problem(
        source,
        "append_only_change",
        int(changed.sum()),
        f"table {table!r} is append-only: a stored row is never changed, and these rows "
        "give other values for stored keys; record new keys only (Store.append keeps the "
        "stored rows and inserts the rest)",
        examples,
    )


def _merge(
    table: str,
    old: pd.DataFrame | None,
    new: pd.DataFrame,
    source: str,
    allow_null_updates: bool,
    keep_stored: bool = False,
) -> _Merge:
    """Upsert ``new`` into ``old`` on (event_ts, keys); with ``keep_stored``, rows whose
    key is stored are left as stored (counted unchanged). A record table refuses changed
    rows (``append_only_change``) unless ``keep_stored``; its ``available_ts`` (the time
    of the first write) never counts as a change."""
    if old is None or old.empty:
        return _Merge(new, new, np.ones(len(new), dtype=bool), len(new), 0, [])
    key_cols = ["event_ts", *STORE_TABLES[table].keys]
    values = [c for c in new.columns if c not in key_cols and c != "available_ts"]
    if not is_record(table):  # a record is available from its first write
        values.append("available_ts")
    both = new.merge(old, on=key_cols, how="left", suffixes=("", "__old"), indicator=True)
    is_new = (both["_merge"] == "left_only").to_numpy(dtype=bool)
    same = np.ones(len(both), dtype=bool)
    if not keep_stored:
        for column in values:
            same &= _same(both[column], both[f"{column}__old"])
    changed = ~is_new & ~same
    problems = [] if allow_null_updates else null_overwrite_problems(table, both, ~is_new, source)
    if is_record(table) and changed.any():
        problems.append(_append_only_problem(table, both, changed, source))
    inserted, updated = int(is_new.sum()), int(changed.sum())
    if not inserted and not updated:
        return _Merge(old, new.iloc[:0], np.zeros(len(old), dtype=bool), 0, 0, problems)
    delta = new.loc[is_new | changed].reset_index(drop=True)
    marked = pd.concat(
        [old.assign(__touched=False), delta.assign(__touched=True)], ignore_index=True
    )
    merged = _stored_order(table, marked)
    touched = merged.pop("__touched").to_numpy(dtype=bool)
    return _Merge(merged, delta, touched, inserted, updated, problems)


class Store:
    """Point-in-time store of the canonical raw tables, versioned.

    Args:
        root: folder of the store (created by the first ingest).
        rules: publication rules; default :meth:`PublicationRules.default`.
        lock_timeout_s: seconds a write waits for another write to finish.
        daily_venues: default daily venue preference (spans in :class:`IngestReport`).
        hourly_venues: default hourly venue preference.
        ohlc_tolerance: relative slack for open/close outside [low, high] before a bar
            is rejected (within it the bar is kept and reported as a warning).
        jump_limit: largest ratio of a bar's open, high or close to the median close of
            its neighbouring bars (``price_jump``).
        venue_jump_limit: largest ratio of a close to the median close of the other
            venues of its symbol at the same bar (``venue_mismatch``).
        pause_before_switch_s: test hook: seconds a write sleeps before switching the
            manifest (kill tests use it to interrupt an ingest at that moment).
        now: the wall clock (tz-aware UTC): event times later than now plus one bar are
            refused (``ts_out_of_range``).

    Raises:
        ConfigError: a negative timeout or tolerance, or a jump limit not above 1.
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
        jump_limit: float = DEFAULT_JUMP_LIMIT,
        venue_jump_limit: float = DEFAULT_VENUE_LIMIT,
        pause_before_switch_s: float = 0.0,
        now: Callable[[], pd.Timestamp] = _utcnow,
    ) -> None:
        problems = []
        if lock_timeout_s < 0 or ohlc_tolerance < 0:
            problems.append(
                f"lock_timeout_s and ohlc_tolerance must be >= 0, received {lock_timeout_s} "
                f"and {ohlc_tolerance}"
            )
        if not (jump_limit > 1 and venue_jump_limit > 1):
            problems.append(
                f"jump_limit and venue_jump_limit must be ratios above 1, received "
                f"{jump_limit} and {venue_jump_limit}"
            )
        if problems:
            raise ConfigError("; ".join(problems) + "; pass valid values")
        self.root = Path(root)
        self.rules = rules if rules is not None else PublicationRules.default()
        self.lock_timeout_s = float(lock_timeout_s)
        self.daily_venues = tuple(check_name("venue", v) for v in daily_venues)
        self.hourly_venues = tuple(check_name("venue", v) for v in hourly_venues)
        self.ohlc_tolerance = float(ohlc_tolerance)
        self.jump_limit = float(jump_limit)
        self.venue_jump_limit = float(venue_jump_limit)
        self.pause_before_switch_s = float(pause_before_switch_s)
        self.now = now
        self._cache: dict[tuple[str, ...], pd.DataFrame] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store at ``settings.store_dir`` with the settings' timeout, ETF hour, venues
        and jump limits.

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
            jump_limit=settings.store_jump_limit,
            venue_jump_limit=settings.store_venue_jump_limit,
            pause_before_switch_s=settings.store_pause_before_switch_s,
        )

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ------------------------------------------------------------------ versions on disk

    @property
    def _manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def _data_dir(self) -> Path:
        return self.root / DATA_DIR

    @property
    def _versions_dir(self) -> Path:
        return self.root / VERSIONS_DIR

    def _record_path(self, number: int) -> Path:
        return self._versions_dir / f"{number:08d}.json"

    def _parse(self, path: Path) -> Snapshot | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"cannot read the store record {path}: {exc}; expected the JSON written by "
                "downside; restore the file from a backup, or move the store folder aside "
                "and ingest again"
            ) from exc
        try:
            return Snapshot.from_json(raw)
        except (KeyError, TypeError, ValueError) as exc:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise StoreError(
                f"store record {path} has format {found!r} or a layout this version of "
                f"downside does not know ({type(exc).__name__}: {exc}); expected format 1 "
                "or 2: re-ingest into a new store"
            ) from exc

    def _current(self) -> Snapshot | None:
        """The current version, from ``manifest.json``; ``None`` for an empty store."""
        return self._parse(self._manifest_path)

    def _entries(self) -> Mapping[str, TableEntry]:
        current = self._current()
        return current.entries if current is not None else {}

    def _record_numbers(self) -> list[int]:
        if not self._versions_dir.is_dir():
            return []
        numbers = []
        for path in self._versions_dir.glob("*.json"):
            if path.stem.isdigit():
                numbers.append(int(path.stem))
        return sorted(numbers)

    def _snapshots(self, current: Snapshot | None) -> list[Snapshot]:
        """Every kept version up to the current one, oldest first (the current included
        even when it has no record: a format-1 manifest)."""
        if current is None:
            return []
        found = []
        for number in self._record_numbers():
            if number < current.version.number:
                snapshot = self._parse(self._record_path(number))
                if snapshot is not None:
                    found.append(snapshot)
        return [*found, current]

    def _commit(
        self,
        base: Snapshot | None,
        entries: Mapping[str, TableEntry],
        operation: Operation,
        origin: str,
        changes: Mapping[str, TableChange],
        *,
        reason: str | None = None,
        restored_from: int | None = None,
    ) -> StoreVersion:
        """Write the version record, then switch the manifest to it."""
        self._versions_dir.mkdir(parents=True, exist_ok=True)
        if base is not None and not self._record_path(base.version.number).exists():
            os.replace(  # a format-1 store: keep its state as version 1
                _write_json(self._record_path(base.version.number), base.to_json()),
                self._record_path(base.version.number),
            )
        version = StoreVersion(
            number=base.version.number + 1 if base is not None else 1,
            written_at=self.now(),
            operation=operation,
            origin=origin,
            tables={name: entry.rows for name, entry in entries.items()},
            changes=dict(changes),
            content=content_id(entries),
            reason=reason,
            restored_from=restored_from,
        )
        snapshot = Snapshot(version, dict(entries))
        payload = snapshot.to_json()
        record = self._record_path(version.number)
        os.replace(_write_json(record, payload), record)
        _fsync_dir(self._versions_dir)
        tmp = _write_json(self._manifest_path, payload)
        if self.pause_before_switch_s:
            log.info(
                "pausing %s s before the manifest switch (test hook)", self.pause_before_switch_s
            )
            time.sleep(self.pause_before_switch_s)
        os.replace(tmp, self._manifest_path)
        _fsync_dir(self.root)
        return version

    def _collect_garbage(self, current: Snapshot | None) -> None:
        """Delete what no kept version references: records after the current version and
        data files of killed writes; and temporary files."""
        number = current.version.number if current is not None else 0
        for other in self._record_numbers():
            if other > number:
                self._record_path(other).unlink(missing_ok=True)
        referenced = {
            part.file
            for snapshot in self._snapshots(current)
            for entry in snapshot.entries.values()
            for part in entry.parts
        }
        if self._data_dir.is_dir():
            for path in self._data_dir.iterdir():
                if path.name not in referenced:
                    path.unlink(missing_ok=True)
        for folder in (self.root, self._versions_dir):
            for path in folder.glob("*.tmp"):
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ parts

    def _check_part(self, part: Part) -> FileProblem | None:
        """What is wrong with a part's file, if anything (size, then SHA-256)."""
        path = self._data_dir / part.file
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return FileProblem(str(path), "", (), "missing", "the file does not exist")
        if part.size is not None and size != part.size:
            return FileProblem(
                str(path), "", (), "size", f"expected {part.size} bytes, found {size}"
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != part.sha256:
            return FileProblem(
                str(path),
                "",
                (),
                "sha256",
                f"expected SHA-256 {part.sha256[:16]}..., found {digest[:16]}...",
            )
        return None

    def _damaged(self, table: str, problem: FileProblem, number: int) -> StoreCorruptError:
        return StoreCorruptError(
            f"data file {problem.path} of table {table!r} in store version {number} is "
            f"damaged ({problem.kind}: {problem.detail}); expected the file the version "
            "recorded; nothing was read or written. `Store.verify()` (`downside store "
            "verify`) lists every damaged file and the versions that are intact: restore "
            "one with `Store.rollback(N)` (`downside store rollback N`), or drop the table "
            f"with `Store.delete({table!r}, reason=...)` and ingest it again",
            files=[problem.path],
        )

    def _read_entry(self, table: str, entry: TableEntry, number: int) -> pd.DataFrame:
        """The table made of ``entry``'s parts; each part's size and SHA-256 are checked
        before it is read, and its size again whenever the table is served from memory.

        Raises:
            FileNotFoundError: a part is missing (a concurrent vacuum; the caller retries).
            StoreCorruptError: a part's size or hash differs, or it cannot be read.
        """
        key = tuple(part.file for part in entry.parts)
        cached = self._cache.get(key)
        if cached is None:
            frames = [self._read_part(table, part, number) for part in entry.parts]
            cached = frames[0] if len(frames) == 1 else _stored_order(table, pd.concat(frames))
            self._remember(key, cached)
        else:  # served from memory: a size check still notices a file damaged since
            for part in entry.parts:
                path = self._data_dir / part.file
                size = path.stat().st_size  # FileNotFoundError: the caller retries
                if part.size is not None and size != part.size:
                    detail = f"expected {part.size} bytes, found {size}"
                    raise self._damaged(
                        table, FileProblem(str(path), table, (number,), "size", detail), number
                    )
        return cached.copy()

    def _read_locked(self, table: str, entry: TableEntry, number: int) -> pd.DataFrame:
        """:meth:`_read_entry` under the write lock, where a missing file is damage (no
        vacuum can run concurrently)."""
        try:
            return self._read_entry(table, entry, number)
        except FileNotFoundError as exc:
            missing = FileProblem(str(exc), table, (number,), "missing", "the file does not exist")
            raise self._damaged(table, missing, number) from exc

    def _read_part(self, table: str, part: Part, number: int) -> pd.DataFrame:
        """One part, after checking its size and SHA-256.

        Raises:
            FileNotFoundError: the file is missing.
            StoreCorruptError: its size or hash differs, or it cannot be read.
        """
        path = self._data_dir / part.file
        if not path.exists():
            raise FileNotFoundError(str(path))
        problem = self._check_part(part)
        if problem is not None:
            raise self._damaged(table, problem, number)
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            bad = FileProblem(str(path), table, (number,), "sha256", f"unreadable: {exc}")
            raise self._damaged(table, bad, number) from exc

    def _remember(self, key: tuple[str, ...], frame: pd.DataFrame) -> None:
        """Cache a table by its parts (files are immutable); keep one per table at most."""
        self._cache = {key: frame, **self._cache}
        for stale in list(self._cache)[len(STORE_TABLES) :]:
            del self._cache[stale]

    def _table_frame(self, table: str) -> pd.DataFrame:
        previous: int | None = None
        for _ in range(_READ_RETRIES):
            current = self._current()
            entry = current.entries.get(table) if current is not None else None
            if current is None or entry is None:
                raise EmptyStoreError(
                    f"table {table!r} has no rows in the store {self.root}; ingest it first "
                    "(`downside ingest DIR` or Store.ingest_files(DIR))"
                )
            number = current.version.number
            try:
                return self._read_entry(table, entry, number)
            except FileNotFoundError as exc:
                if previous == number:
                    missing = FileProblem(str(exc), table, (number,), "missing", "deleted")
                    raise self._damaged(table, missing, number) from exc
                previous = number
                log.debug("a part of %s was vacuumed by a concurrent write; re-reading", table)
        raise StoreError(
            f"table {table!r} kept changing under concurrent writes in {self.root}; "
            f"tried {_READ_RETRIES} manifest snapshots; retry when the writes are done"
        )

    def _write_part(self, table: str, frame: pd.DataFrame) -> Part:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        name = f"{table}-{uuid.uuid4().hex}.parquet"
        path = self._data_dir / name
        with path.open("wb") as fh:
            frame.to_parquet(fh, index=False, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        data = path.read_bytes()
        return Part(name, hashlib.sha256(data).hexdigest(), len(data), len(frame))

    def _write_entry(
        self, table: str, old: TableEntry | None, merge: _Merge, number: int
    ) -> TableEntry:
        """Write the changed rows as a new part after the table's parts.

        A table is a base part and up to ``MAX_PARTS - 1`` small parts after it. When a new
        part would exceed that, the small parts and the new rows are merged into one part
        after the base (so old versions keep sharing the base file); when those rows
        outnumber half of the table, the whole table is rewritten as one part.
        """
        parts = old.parts if old is not None else ()
        if not parts or 2 * len(merge.delta) > len(merge.merged):
            new_parts: tuple[Part, ...] = (self._write_part(table, merge.merged),)
        elif len(parts) < MAX_PARTS:
            new_parts = (*parts, self._write_part(table, merge.delta))
        else:
            base, *small = parts
            try:
                frames = [self._read_part(table, part, number) for part in small]
            except FileNotFoundError as exc:
                missing = FileProblem(str(exc), table, (number,), "missing", "deleted")
                raise self._damaged(table, missing, number) from exc
            tail = _stored_order(table, pd.concat([*frames, merge.delta], ignore_index=True))
            if 2 * len(tail) > len(merge.merged):
                new_parts = (self._write_part(table, merge.merged),)
            else:
                new_parts = (base, self._write_part(table, tail))
        _fsync_dir(self._data_dir)
        self._remember(tuple(p.file for p in new_parts), merge.merged)
        return TableEntry.of(new_parts, merge.merged)

    # ------------------------------------------------------------------ reading

    @property
    def version(self) -> str:
        """A string that changes whenever the stored market data (the raw tables) changes
        (``empty`` for none). Record tables (the forecast ledger) are left out: recording
        a forecast does not invalidate what is computed from the data."""
        return _data_id(self._entries())

    @property
    def is_empty(self) -> bool:
        """Whether no table has rows."""
        return not self._entries()

    def tables(self) -> list[str]:
        """Names of the stored tables, sorted."""
        return sorted(self._entries())

    def fingerprint(self) -> dict[str, dict[str, int | str]]:
        """Per raw table: ``rows``, ``first_event_ts``, ``last_event_ts``,
        ``last_available_ts`` (ISO 8601 strings), from one manifest snapshot; for MLflow
        logging (record tables are not training data and are left out)."""
        return {
            name: {
                "rows": entry.rows,
                "first_event_ts": entry.first_event_ts,
                "last_event_ts": entry.last_event_ts,
                "last_available_ts": entry.last_available_ts,
            }
            for name, entry in sorted(self._entries().items())
            if not is_record(name)
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
            table: canonical table name (a raw table or a record table such as
                ``forecast_ledger``).
            symbols: keep these symbols only (the ``symbol`` key, or ``asset`` for
                ``etf_flows_daily``); ``None`` keeps all.
            available_by: keep rows with ``available_ts <= available_by`` (tz-aware).

        Returns:
            Columns ``event_ts``, ``available_ts``, the keys, the values; sorted by the
            keys then ``event_ts``; possibly empty after filtering.

        Raises:
            InvalidNameError: ``table`` is not a canonical table.
            EmptyStoreError: the table was never ingested.
            StoreCorruptError: a data file of the table is missing or damaged.
            StoreQueryError: ``available_by`` is naive, or ``symbols`` was given for a
                table without a symbol column.
        """
        spec = STORE_TABLES.get(table)
        if spec is None:
            raise InvalidNameError("table", table, f"one of {sorted(STORE_TABLES)}")
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

    def ingest(
        self,
        tables: Mapping[str, pd.DataFrame],
        *,
        origin: str,
        allow_null_updates: bool = False,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """Validate and upsert raw tables (keyed by table name), atomically, as one version.

        A table with no rows (but the canonical columns) is valid and changes nothing:
        it is reported with 0 rows read and an ``empty_table`` warning. An ingest that
        changes nothing writes no version.

        Args:
            tables: canonical table name -> frame with ``ts``, keys and value columns.
            origin: label for problems, the report and the history (``simulated``, ...).
            allow_null_updates: let a missing value (NaN) replace a stored value of the
                same key and column; refused by default (``null_overwrites_value``).
            progress: called as ``progress(step, done, total)`` before each of the
                ``2 x tables`` steps (validating, then merging each table) and once at
                the end with ``done == total``.

        Returns:
            Counts per table, versions before and after, the version written, warnings
            and venue spans.

        Raises:
            SchemaError: any table broke a rule (every problem listed); nothing written.
            StoreLockedError: another write held the lock for ``lock_timeout_s``.
            StoreCorruptError: a stored file of an ingested table is damaged.
            StoreError: the stored manifest is unreadable, or a publication rule is not
                monotone.
        """
        items = [(name, f"{origin}:{name}", frame) for name, frame in tables.items()]
        return self._ingest(items, origin, allow_null_updates, progress=progress)

    def ingest_files(
        self,
        directory: Path,
        *,
        allow_null_updates: bool = False,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """Read ``<table>.parquet|csv`` files from ``directory`` and its subfolders and
        ingest them in one go, as one version.

        Files are found as :func:`downside.sources.read_files` finds them: recursively,
        suffixes in any case, each table from exactly one file (the same table in two
        subfolders, or ``.parquet`` beside ``.Parquet``, is an error, not an order). A
        file with a header but no rows is valid and changes nothing (see :meth:`ingest`).
        ``progress`` is called as in :meth:`ingest`.

        Raises:
            SchemaError: unreadable, unknown or repeated table files, files of a table in
                an unsupported format, or rows breaking a rule (every problem listed);
                nothing written.
            StoreLockedError: another write held the lock for ``lock_timeout_s``.
            StoreCorruptError: a stored file of an ingested table is damaged.
            StoreError: the stored manifest is unreadable.
        """
        files = read_files(Path(directory))
        items = [(raw.table, str(raw.path), raw.frame) for raw in files]
        return self._ingest(items, str(directory), allow_null_updates, progress=progress)

    def append(self, table: str, frame: pd.DataFrame, *, origin: str) -> IngestReport:
        """Record rows in a record table (the forecast ledger), atomically, as one version.

        Rows whose key (``ts`` + keys) is already stored are left as first recorded and
        counted ``unchanged``, whatever their values: appending the same forecasts again
        changes nothing. ``available_ts`` of the new rows is the store's clock now (the
        ``recorded`` publication rule).

        Args:
            table: a record table, e.g. ``forecast_ledger``.
            frame: rows with ``ts``, the keys and the value columns of the table.
            origin: label for problems, the report and the history.

        Returns:
            The counts (``inserted``: new rows; ``unchanged``: keys already recorded) and
            the version written (None when nothing was new).

        Raises:
            InvalidNameError: ``table`` is not a record table.
            SchemaError: the rows broke a rule (every problem listed); nothing written.
            StoreLockedError: another write held the lock for ``lock_timeout_s``.
            StoreCorruptError: a stored file of the table is damaged.
        """
        if not is_record(table):
            raise InvalidNameError("record table", table, f"one of {sorted(RECORD_TABLES)}")
        return self._ingest([(table, f"{origin}:{table}", frame)], origin, False, True)

    def _prepare(
        self,
        items: Sequence[tuple[str, str, pd.DataFrame]],
        origin: str,
        progress: IngestProgress,
    ) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
        problems: list[Problem] = []
        warnings: list[Problem] = []
        if not items:
            problems.append(
                Problem(origin, "no_tables", 0, f"expected at least one of {sorted(TABLES)}")
            )
        seen: dict[str, str] = {}
        now = self.now()
        for done, (table, source, frame) in enumerate(items):
            progress(f"validating {table}", done, 2 * len(items))
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
            findings = validate(table, frame, source, ohlc_tolerance=self.ohlc_tolerance, now=now)
            problems.extend(findings.problems)
            warnings.extend(findings.warnings)
        if problems:
            raise SchemaError(problems)
        prepared: dict[str, pd.DataFrame] = {}
        for table, _source, frame in items:
            stored = normalize(table, frame)
            stored.insert(1, "available_ts", self.rules.available_ts(table, stored, now=now))
            keys = list(STORE_TABLES[table].keys)
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

    def _locked(self) -> filelock.BaseFileLock:
        """The write lock, acquired (the caller releases it).

        Raises:
            StoreLockedError: another write held it for ``lock_timeout_s``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.root / LOCK_NAME), timeout=self.lock_timeout_s)
        started = time.monotonic()
        try:
            lock.acquire()
        except filelock.Timeout as exc:
            raise StoreLockedError(str(lock.lock_file), time.monotonic() - started) from exc
        return lock

    def _ingest(
        self,
        items: Sequence[tuple[str, str, pd.DataFrame]],
        origin: str,
        allow_null_updates: bool,
        keep_stored: bool = False,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        say = progress or _silent
        prepared, warnings = self._prepare(items, origin, say)
        sources = {table: source for table, source, _ in items}
        lock = self._locked()
        try:
            report = self._upsert_locked(
                prepared, sources, warnings, origin, allow_null_updates, keep_stored, say
            )
        finally:
            lock.release()
        say("ingested", 2 * len(items), 2 * len(items))
        return report

    def _upsert_locked(
        self,
        prepared: Mapping[str, pd.DataFrame],
        sources: Mapping[str, str],
        warnings: Sequence[Problem],
        origin: str,
        allow_null_updates: bool,
        keep_stored: bool = False,
        progress: IngestProgress = _silent,
    ) -> IngestReport:
        current = self._current()
        self._collect_garbage(current)
        entries = dict(current.entries) if current is not None else {}
        number = current.version.number if current is not None else 0
        version_before = _data_id(entries)
        merges: dict[str, _Merge] = {}
        problems: list[Problem] = []
        for done, (table, new) in enumerate(prepared.items()):
            progress(f"merging {table}", len(prepared) + done, 2 * len(prepared))
            old = self._read_locked(table, entries[table], number) if table in entries else None
            merge = _merge(table, old, new, sources[table], allow_null_updates, keep_stored)
            problems.extend(merge.problems)
            problems.extend(
                price_problems(
                    table,
                    merge.merged,
                    merge.touched,
                    sources[table],
                    jump_limit=self.jump_limit,
                    venue_limit=self.venue_jump_limit,
                )
            )
            merges[table] = merge
        if problems:
            raise SchemaError(problems)
        changes: dict[str, TableChange] = {}
        counts: list[TableIngest] = []
        for table, merge in merges.items():
            if merge.inserted or merge.updated:
                entries[table] = self._write_entry(table, entries.get(table), merge, number)
                changes[table] = TableChange(inserted=merge.inserted, updated=merge.updated)
            rows_read = len(prepared[table])
            counts.append(
                TableIngest(
                    table=table,
                    source=sources[table],
                    rows_read=rows_read,
                    inserted=merge.inserted,
                    updated=merge.updated,
                    unchanged=rows_read - merge.inserted - merge.updated,
                    total_rows=len(merge.merged),
                )
            )
        version = None
        if changes:
            version = self._commit(current, entries, "ingest", origin, changes)
        version_after = _data_id(entries)
        log.info("ingest %s: version %s -> %s", origin, version_before, version_after)
        venue_spans: dict[str, pd.DataFrame] = {}
        for freq, table in _PRICE_TABLES.items():
            venues = self.daily_venues if freq == "1d" else self.hourly_venues
            if table in merges:
                venue_spans[freq] = spans(stitch(merges[table].merged, venues))
        return IngestReport(
            origin=origin,
            tables=tuple(counts),
            version_before=version_before,
            version_after=version_after,
            warnings=tuple(warnings),
            venue_spans=venue_spans,
            version=version,
        )

    # ------------------------------------------------------------------ versions

    def history(self) -> list[StoreVersion]:
        """Every kept version, newest (the current one) first.

        Raises:
            StoreError: a record is unreadable.
        """
        return [s.version for s in reversed(self._snapshots(self._current()))]

    def _snapshot(self, number: int, current: Snapshot) -> Snapshot:
        if number == current.version.number:
            return current
        snapshot = None
        if 0 < number < current.version.number:
            snapshot = self._parse(self._record_path(number))
        if snapshot is None:
            known = [s.version.number for s in self._snapshots(current)]
            raise UnknownVersionError(number, known)
        return snapshot

    def rollback(self, version: int, *, reason: str | None = None) -> StoreVersion:
        """Make the data of an earlier version current again, byte for byte.

        The raw tables are restored; the record tables (the forecast ledger) stay as they
        are, so a rollback of bad market data keeps the track record. The restored
        version's files are checked (size and SHA-256) first; the rollback
        then writes a new version pointing at exactly those files, so history keeps
        every version and a rollback can itself be rolled back. Rolling back to the
        current content writes nothing and returns the current version.

        Args:
            version: the number of a kept version (see :meth:`history`).
            reason: why, kept in the history.

        Returns:
            The version written (or the current one).

        Raises:
            UnknownVersionError: no kept version has that number.
            StoreCorruptError: a file of that version is missing or damaged.
            StoreLockedError: another write held the lock for ``lock_timeout_s``.
        """
        lock = self._locked()
        try:
            current = self._current()
            if current is None:
                raise UnknownVersionError(int(version), [])
            target = self._snapshot(int(version), current)
            restored = {n: e for n, e in target.entries.items() if not is_record(n)}
            restored |= {n: e for n, e in current.entries.items() if is_record(n)}
            if content_id(restored) == current.version.content:
                return current.version
            report = self._verify_snapshots([target])
            if not report.ok:
                first = report.problems[0]
                raise StoreCorruptError(
                    f"cannot roll back to version {version}: {len(report.problems)} of its "
                    f"files are damaged, e.g. {first.render()}; intact kept versions: "
                    f"{list(self._verify_snapshots(self._snapshots(current)).intact)}; pick "
                    "one of them",
                    files=[p.path for p in report.problems],
                )
            changes = {
                table: self._difference(table, current, target)
                for table in sorted(set(current.entries) | set(restored))
                if current.entries.get(table) != restored.get(table)
            }
            return self._commit(
                current,
                restored,
                "rollback",
                f"rollback to version {target.version.number}",
                changes,
                reason=reason,
                restored_from=target.version.number,
            )
        finally:
            lock.release()

    def _difference(self, table: str, current: Snapshot, target: Snapshot) -> TableChange:
        """Rows a rollback from ``current`` to ``target`` inserts, changes and deletes in
        ``table`` (net row counts when the current files cannot be read)."""
        before, after = current.entries.get(table), target.entries.get(table)
        if before is None or after is None:
            return TableChange(
                inserted=after.rows if after is not None else 0,
                deleted=before.rows if before is not None else 0,
            )
        try:
            old = self._read_entry(table, before, current.version.number)
        except (FileNotFoundError, StoreCorruptError):
            return TableChange(
                inserted=max(0, after.rows - before.rows), deleted=max(0, before.rows - after.rows)
            )
        new = self._read_locked(table, after, target.version.number)
        merge = _merge(table, old, new, table, allow_null_updates=True)
        return TableChange(
            inserted=merge.inserted,
            updated=merge.updated,
            deleted=len(old) - (len(new) - merge.inserted),
        )

    def delete(
        self,
        table: str,
        *,
        symbol: str | None = None,
        venue: str | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        reason: str,
    ) -> StoreVersion:
        """Remove rows, with a recorded reason, as a new version.

        Rows are selected by every filter given; with none, the whole table is dropped
        (without reading it, so a table whose files are damaged can be dropped and
        ingested again).

        Args:
            table: canonical table name.
            symbol: the entity: ``symbol`` (``asset`` for ETF flows, ``series`` for
                macro rates, ``stablecoin`` for stablecoin supply).
            venue: the venue, for tables keyed by venue.
            start: first event time removed (tz-aware, inclusive).
            end: event times before this are removed (tz-aware, exclusive).
            reason: why, kept in the history; required.

        Returns:
            The version written.

        Raises:
            InvalidNameError: ``table`` is not a canonical table.
            StoreQueryError: an empty reason, naive or inverted times, a filter the table
                has no column for, or no row matches.
            EmptyStoreError: the table is not stored.
            StoreCorruptError: a file of the table is damaged (and filters were given).
            StoreLockedError: another write held the lock for ``lock_timeout_s``.
        """
        spec = STORE_TABLES.get(table)
        if spec is None:
            raise InvalidNameError("table", table, f"one of {sorted(STORE_TABLES)}")
        entity = next((c for c in _ENTITY_COLUMNS if c in spec.keys), None)
        problems = []
        if not reason or not reason.strip():
            problems.append("a reason is required (it is kept in the history)")
        if symbol is not None and entity is None:
            problems.append(f"table {table!r} has keys {list(spec.keys)}: no symbol to match")
        if venue is not None and "venue" not in spec.keys:
            problems.append(f"table {table!r} has keys {list(spec.keys)}: no venue to match")
        for name, value in (("start", start), ("end", end)):
            if value is not None and pd.Timestamp(value).tzinfo is None:
                problems.append(f"{name} must be timezone-aware UTC, received naive {value}")
        if not problems and start is not None and end is not None and start >= end:
            problems.append(f"start {start} must be before end {end}")
        if problems:
            raise StoreQueryError(f"invalid delete from {table!r}: " + "; ".join(problems))
        lock = self._locked()
        try:
            current = self._current()
            entry = current.entries.get(table) if current is not None else None
            if current is None or entry is None:
                raise EmptyStoreError(f"table {table!r} has no rows in the store {self.root}")
            entries = dict(current.entries)
            if symbol is None and venue is None and start is None and end is None:
                del entries[table]
                removed = entry.rows
            else:
                frame = self._read_locked(table, entry, current.version.number)
                mask = np.ones(len(frame), dtype=bool)
                if symbol is not None and entity is not None:
                    mask &= (frame[entity] == symbol).to_numpy()
                if venue is not None:
                    mask &= (frame["venue"] == venue).to_numpy()
                if start is not None:
                    mask &= (frame["event_ts"] >= pd.Timestamp(start)).to_numpy()
                if end is not None:
                    mask &= (frame["event_ts"] < pd.Timestamp(end)).to_numpy()
                removed = int(mask.sum())
                if not removed:
                    raise StoreQueryError(
                        f"no rows of {table!r} match symbol={symbol}, venue={venue}, "
                        f"start={start}, end={end}; nothing was deleted; check the filters "
                        f"against Store.read({table!r})"
                    )
                kept = frame.loc[~mask].reset_index(drop=True)
                if kept.empty:
                    del entries[table]
                else:
                    part = self._write_part(table, kept)
                    _fsync_dir(self._data_dir)
                    self._remember((part.file,), kept)
                    entries[table] = TableEntry.of((part,), kept)
            span = ""
            if start is not None or end is not None:
                first = "" if start is None else pd.Timestamp(start).isoformat()
                last = "" if end is None else pd.Timestamp(end).isoformat()
                span = f"{first}..{last}"
            filters = " ".join(str(v) for v in (symbol, venue, span) if v)
            return self._commit(
                current,
                entries,
                "delete",
                f"delete {table}" + (f" {filters}" if filters else " (whole table)"),
                {table: TableChange(deleted=removed)},
                reason=reason.strip(),
            )
        finally:
            lock.release()

    def _verify_snapshots(self, snapshots: Sequence[Snapshot]) -> VerifyReport:
        users: dict[tuple[str, str], list[int]] = {}
        parts: dict[str, tuple[str, Part]] = {}
        for snapshot in snapshots:
            for table, entry in snapshot.entries.items():
                for part in entry.parts:
                    users.setdefault((table, part.file), []).append(snapshot.version.number)
                    parts[part.file] = (table, part)
        problems = []
        hashed = 0
        bad_files = set()
        for file, (table, part) in sorted(parts.items()):
            problem = self._check_part(part)
            if problem is None:
                hashed += part.size or (self._data_dir / file).stat().st_size
                continue
            bad_files.add(file)
            problems.append(
                FileProblem(
                    problem.path,
                    table,
                    tuple(users[(table, file)]),
                    problem.kind,
                    problem.detail,
                )
            )
        intact = tuple(
            s.version.number
            for s in reversed(snapshots)
            if not any(p.file in bad_files for e in s.entries.values() for p in e.parts)
        )
        return VerifyReport(
            versions=tuple(s.version.number for s in snapshots),
            files=len(parts),
            bytes=hashed,
            problems=tuple(problems),
            intact=intact,
        )

    def verify(self, *, all_versions: bool = True) -> VerifyReport:
        """Check the data files against the sizes and SHA-256 digests the versions recorded.

        Args:
            all_versions: check the files of every kept version (what a rollback can
                reach); ``False`` checks the current version only.

        Returns:
            The files checked, the damaged ones (missing, truncated, overwritten) with the
            versions using them, and the versions whose files are all intact.

        Raises:
            StoreError: a record is unreadable.
        """
        current = self._current()
        snapshots = self._snapshots(current) if all_versions else [current] if current else []
        return self._verify_snapshots(snapshots)

    def vacuum(self, *, keep: int) -> VacuumReport:
        """Remove all but the ``keep`` newest versions and the files only they used.

        Args:
            keep: versions to keep, the current one included (>= 1).

        Returns:
            The versions kept and removed, files deleted and bytes freed.

        Raises:
            StoreQueryError: ``keep`` is below 1.
            StoreLockedError: another write held the lock for ``lock_timeout_s``.
        """
        if int(keep) < 1:
            raise StoreQueryError(
                f"keep must be >= 1 (the current version is always kept), received {keep}"
            )
        lock = self._locked()
        try:
            current = self._current()
            self._collect_garbage(current)
            snapshots = self._snapshots(current)
            kept, dropped = snapshots[-int(keep) :], snapshots[: -int(keep)]
            used = {p.file for s in kept for e in s.entries.values() for p in e.parts}
            files, freed = 0, 0
            for snapshot in dropped:
                for entry in snapshot.entries.values():
                    for part in entry.parts:
                        path = self._data_dir / part.file
                        if part.file not in used and path.exists():
                            freed += path.stat().st_size
                            files += 1
                            path.unlink()
                            used.add(part.file)  # counted once
                self._record_path(snapshot.version.number).unlink(missing_ok=True)
            if dropped:
                _fsync_dir(self._versions_dir)
            return VacuumReport(
                kept=tuple(s.version.number for s in reversed(kept)),
                removed=tuple(s.version.number for s in dropped),
                files=files,
                bytes=freed,
            )
        finally:
            lock.release()
