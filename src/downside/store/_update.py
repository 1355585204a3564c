"""Incremental, resumable updates of the store from live connectors.

For every series of every connector, :func:`update`:

1. reads the last stored event time of the series (its key values in its table) and
   starts one ``step`` after it (or at ``since``, or at the series' default start);
2. asks the connector for pages up to ``until`` (default: now) and ingests each page
   with :meth:`Store.ingest` (validated, atomic, idempotent);
3. after each page's ingest has committed, records it in a checkpoint file under the
   store root (``update-checkpoint.json``, written to a temporary file, fsynced, then
   switched with ``os.replace``): the series' range, the pages done and where the next
   page starts.

An update that is interrupted (network failure, rate limit, kill) leaves the store as of
its last committed page and a checkpoint. The next update resumes each unfinished series
from the checkpoint's next page with the same range, so no page is fetched or written
twice and the final store equals that of an uninterrupted update. Had the process died
between a page's ingest and its checkpoint, that one page is fetched again and its
ingest changes nothing (the store's upsert is idempotent). A series is removed from the
checkpoint when it completes; the file is removed when no series is left.

A host that cannot be reached (no network, a name that does not resolve) fails its
first series at once, without retries (see :class:`~downside.sources.live.HttpClient`);
the remaining series on that host are ``skipped`` without a request, so an offline
update ends in seconds with one error per unreachable host. Failures are returned in the
report and logged at INFO only: the caller decides what to print.

Only one update runs at a time per store (``.update.lock``). The checkpoint holds series
names and times only, never API keys.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import filelock
import pandas as pd

from downside.errors import (
    EmptyStoreError,
    SchemaError,
    SourceError,
    SourceUnreachableError,
    StoreError,
    StoreLockedError,
)
from downside.store._store import Store

if TYPE_CHECKING:  # the connectors import httpx; reading the store must not
    from downside.sources.live import Connector, Series

log = logging.getLogger("downside.store.update")

CHECKPOINT_NAME = "update-checkpoint.json"
UPDATE_LOCK_NAME = ".update.lock"
CHECKPOINT_FORMAT = 1
Status = Literal["updated", "up_to_date", "failed", "skipped"]
UPDATE_COLUMNS = (
    "series",
    "table",
    "status",
    "start",
    "end",
    "pages",
    "rows_read",
    "inserted",
    "updated",
    "dropped",
    "resumed",
    "last_event_ts",
)


def _utcnow() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


@dataclass(frozen=True)
class SeriesUpdate:
    """What one update did for one series.

    Attributes:
        series: ``connector/name``.
        table: the canonical table written.
        status: ``updated`` (ran to the end, possibly with no new rows), ``up_to_date``
            (nothing to ask for), ``failed`` (stopped; the checkpoint keeps its place) or
            ``skipped`` (its host was found unreachable earlier in the run; not requested).
        start, end: the requested event-time range ``[start, end)``.
        pages: pages ingested by this run.
        rows_read: rows in those pages.
        inserted, updated: rows new to the store / replacing different stored values.
        dropped: rows the source returned but the connector left out (see ``notes``).
        resumed: whether this run continued an interrupted one.
        last_event_ts: the series' last stored event time after the run.
        notes: the connector's notes and, on failure, the error message.
    """

    series: str
    table: str
    status: Status
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    pages: int = 0
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    dropped: int = 0
    resumed: bool = False
    last_event_ts: pd.Timestamp | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdateReport:
    """Result of :func:`update`.

    Attributes:
        series: one entry per series, in fetch order.
        version_before, version_after: store versions around the run.
        errors: series id -> error message of the series that failed; one entry per
            unreachable host (the series of that host after it are ``skipped``).
    """

    series: tuple[SeriesUpdate, ...]
    version_before: str
    version_after: str
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every series ran to the end."""
        return not self.errors and all(s.status != "skipped" for s in self.series)

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.series)

    @property
    def inserted(self) -> int:
        return sum(s.inserted for s in self.series)

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.series)

    def to_frame(self) -> pd.DataFrame:
        """One row per series with columns :data:`UPDATE_COLUMNS` (for the CLI)."""
        rows = [
            (
                s.series,
                s.table,
                s.status,
                s.start,
                s.end,
                s.pages,
                s.rows_read,
                s.inserted,
                s.updated,
                s.dropped,
                s.resumed,
                s.last_event_ts,
            )
            for s in self.series
        ]
        return pd.DataFrame(rows, columns=list(UPDATE_COLUMNS))


class Checkpoint:
    """The update checkpoint of one store: series id -> range, pages done, next start."""

    def __init__(self, root: Path) -> None:
        self.path = root / CHECKPOINT_NAME
        self.entries: dict[str, dict[str, Any]] = {}

    def load(self) -> Checkpoint:
        """Read the file if it exists.

        Raises:
            StoreError: the file is unreadable or of another format.
        """
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"cannot read the update checkpoint {self.path}: {exc}; expected the JSON "
                "written by `downside update`; delete the file to start the interrupted "
                "series afresh (the store itself is intact)"
            ) from exc
        if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
            raise StoreError(
                f"update checkpoint {self.path} has an unknown format; expected format "
                f"{CHECKPOINT_FORMAT}; delete it to start afresh (the store is intact)"
            )
        self.entries = dict(raw.get("series", {}))
        return self

    def save(self) -> None:
        """Write atomically (temporary file, fsync, ``os.replace``); remove when empty."""
        if not self.entries:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": CHECKPOINT_FORMAT, "series": self.entries}
        tmp = self.path.with_name(f"{CHECKPOINT_NAME}.{uuid.uuid4().hex}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def last_event_ts(store: Store, series: Series) -> pd.Timestamp | None:
    """The last stored event time of ``series`` (its key values in its table), if any."""
    try:
        frame = store.read(series.table)
    except EmptyStoreError:
        return None
    mask = pd.Series(True, index=frame.index)
    for column, value in series.keys.items():
        mask &= frame[column] == value
    if not mask.any():
        return None
    return pd.Timestamp(frame.loc[mask, "event_ts"].max())


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else pd.Timestamp(ts).isoformat()


def _ts(text: str | None) -> pd.Timestamp | None:
    return None if text is None else pd.Timestamp(text).tz_convert("UTC")


def update(
    store: Store,
    connectors: Sequence[Connector],
    *,
    symbols: Sequence[str] | None = None,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    now: Callable[[], pd.Timestamp] = _utcnow,
    progress: Callable[[str], None] | None = None,
    keep_going: bool = True,
) -> UpdateReport:
    """Fetch what is new from each connector and ingest it page by page.

    Args:
        store: the store to update.
        connectors: the sources (see :func:`downside.sources.live.make_connectors`).
        symbols: base assets (``BTC``); ``None`` for each connector's defaults.
        since: start every series here instead of after its last stored time.
        until: fetch event times before this (default: ``now()``).
        now: the wall clock (tz-aware UTC).
        progress: called with a short line per series and page.
        keep_going: after a series fails with a source or validation error, go on with
            the next series (its failure is in the report) instead of raising.

    Returns:
        What was fetched and written per series.

    Raises:
        StoreLockedError: another update of this store is running.
        SourceError, SchemaError: a series failed and ``keep_going`` is false.
        StoreError: the store or the checkpoint is unreadable.
    """
    for name, value in (("since", since), ("until", until)):
        if value is not None and pd.Timestamp(value).tzinfo is None:
            raise StoreError(
                f"{name} must be a timezone-aware UTC timestamp, received naive {value}; "
                "use pd.Timestamp(..., tz='UTC')"
            )
    say = progress or (lambda _msg: None)
    end_default = pd.Timestamp(until).tz_convert("UTC") if until is not None else now()
    start_override = pd.Timestamp(since).tz_convert("UTC") if since is not None else None
    store.root.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(store.root / UPDATE_LOCK_NAME), timeout=store.lock_timeout_s)
    started = time.monotonic()
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise StoreLockedError(str(lock.lock_file), time.monotonic() - started) from exc
    try:
        checkpoint = Checkpoint(store.root).load()
        version_before = store.version
        results: list[SeriesUpdate] = []
        errors: dict[str, str] = {}
        down: set[str] = set()
        for connector in connectors:
            try:
                for series in connector.series(symbols):
                    result, error = _update_series(
                        store, connector, series, checkpoint, start_override, end_default, say
                    )
                    if isinstance(error, SourceUnreachableError):
                        host = error.host or connector.name
                        if host in down:
                            result = dataclasses.replace(
                                result,
                                status="skipped",
                                notes=(f"skipped: {host} was unreachable earlier in this run",),
                            )
                            results.append(result)
                            continue
                        down.add(host)
                    results.append(result)
                    if error is not None:
                        errors[series.id] = str(error)
                        if not keep_going:
                            raise error
            finally:
                connector.close()
        return UpdateReport(tuple(results), version_before, store.version, errors)
    finally:
        lock.release()


def _update_series(
    store: Store,
    connector: Connector,
    series: Series,
    checkpoint: Checkpoint,
    start_override: pd.Timestamp | None,
    end_default: pd.Timestamp,
    say: Callable[[str], None],
) -> tuple[SeriesUpdate, Exception | None]:
    """Fetch and ingest one series; a source or validation error is returned, not raised."""
    entry = checkpoint.entries.get(series.id)
    requested = _iso(start_override)
    resumed = entry is not None and (requested is None or entry.get("requested") == requested)
    if entry is not None and resumed and entry["next"] is None:
        checkpoint.entries.pop(series.id)
        checkpoint.save()
        latest = last_event_ts(store, series)
        return SeriesUpdate(
            series.id,
            series.table,
            "up_to_date",
            _ts(entry["start"]),
            _ts(entry["end"]),
            resumed=True,
            last_event_ts=latest,
        ), None
    if entry is not None and resumed:
        start = pd.Timestamp(entry["next"]).tz_convert("UTC")
        end = pd.Timestamp(entry["end"]).tz_convert("UTC")
        done = len(entry["done"])
        say(f"{series.id}: resuming at {start:%Y-%m-%d %H:%M} ({done} page(s) done before)")
    else:
        end = end_default
        if series.snapshot:
            start = end - series.step
        elif start_override is not None:
            start = start_override
        else:
            last = last_event_ts(store, series)
            start = series.start if last is None else last + series.step
        if start >= end:
            latest = last_event_ts(store, series)
            return SeriesUpdate(
                series.id, series.table, "up_to_date", start, end, last_event_ts=latest
            ), None
        entry = {
            "requested": requested,
            "start": _iso(start),
            "end": _iso(end),
            "next": _iso(start),
            "done": [],
        }
        checkpoint.entries[series.id] = entry
        checkpoint.save()
    counts = {"pages": 0, "rows_read": 0, "inserted": 0, "updated": 0, "dropped": 0}
    notes: list[str] = []
    try:
        for page in connector.fetch(series, start, end):
            cursor = _iso(page.cursor)
            if cursor in entry["done"]:
                log.info("%s: page %s already ingested; skipped", series.id, cursor)
                continue
            if page.rows:
                report = store.ingest(page.tables, origin=series.id)
                counts["inserted"] += report.inserted
                counts["updated"] += report.updated
                counts["rows_read"] += page.rows
            counts["pages"] += 1
            counts["dropped"] += page.dropped
            notes.extend(n for n in page.notes if n not in notes)
            entry["done"].append(cursor)
            entry["next"] = _iso(page.next_start)
            checkpoint.save()
            say(f"{series.id}: page {page.cursor:%Y-%m-%d %H:%M}, {page.rows} row(s)")
    except (SourceError, SchemaError) as exc:
        log.info("%s failed: %s", series.id, exc)
        return SeriesUpdate(
            series.id,
            series.table,
            "failed",
            start,
            end,
            resumed=resumed,
            last_event_ts=last_event_ts(store, series),
            notes=(*notes, str(exc)),
            **counts,
        ), exc
    checkpoint.entries.pop(series.id, None)
    checkpoint.save()
    return SeriesUpdate(
        series.id,
        series.table,
        "updated",
        start,
        end,
        resumed=resumed,
        last_event_ts=last_event_ts(store, series),
        notes=tuple(notes),
        **counts,
    ), None
