"""Store versions: the records of ``versions/`` and the reports of verify and vacuum.

Every change of the stored data (an ingest that inserts or changes rows, a delete, a
rollback) writes one immutable version record, ``versions/<number>.json``, and then
switches ``manifest.json`` to a copy of it. A record lists, per table, the Parquet parts
the table is made of (file, byte size, SHA-256, rows) and what the change did. Reading
a table concatenates its parts; a row of a later part replaces the row of the same key
in an earlier one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

FORMAT_VERSION = 2
LEGACY_FORMAT = 1
EMPTY_VERSION = "empty"
Operation = Literal["ingest", "delete", "rollback"]
LEGACY_ORIGIN = "(written before versions were kept)"


@dataclass(frozen=True)
class Part:
    """One immutable Parquet file of a table.

    Attributes:
        file: file name under ``data/``.
        sha256: hex digest of the file's bytes.
        size: bytes; ``None`` for a part recorded by a format-1 manifest.
        rows: rows in the file.
    """

    file: str
    sha256: str
    size: int | None
    rows: int


@dataclass(frozen=True)
class TableEntry:
    """A table in one version: its parts and summary times (ISO 8601)."""

    parts: tuple[Part, ...]
    rows: int
    first_event_ts: str
    last_event_ts: str
    last_available_ts: str

    @classmethod
    def of(cls, parts: tuple[Part, ...], frame: pd.DataFrame) -> TableEntry:
        return cls(
            parts=parts,
            rows=len(frame),
            first_event_ts=frame["event_ts"].min().isoformat(),
            last_event_ts=frame["event_ts"].max().isoformat(),
            last_available_ts=frame["available_ts"].max().isoformat(),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "parts": [vars(part) for part in self.parts],
            "rows": self.rows,
            "first_event_ts": self.first_event_ts,
            "last_event_ts": self.last_event_ts,
            "last_available_ts": self.last_available_ts,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TableEntry:
        return cls(
            parts=tuple(Part(**part) for part in raw["parts"]),
            rows=int(raw["rows"]),
            first_event_ts=str(raw["first_event_ts"]),
            last_event_ts=str(raw["last_event_ts"]),
            last_available_ts=str(raw["last_available_ts"]),
        )

    @classmethod
    def from_legacy(cls, raw: Mapping[str, Any]) -> TableEntry:
        """A table of a format-1 manifest: one file, size unknown."""
        part = Part(file=raw["file"], sha256=raw["sha256"], size=None, rows=int(raw["rows"]))
        return cls(
            parts=(part,),
            rows=int(raw["rows"]),
            first_event_ts=str(raw["first_event_ts"]),
            last_event_ts=str(raw["last_event_ts"]),
            last_available_ts=str(raw["last_available_ts"]),
        )


@dataclass(frozen=True)
class TableChange:
    """Rows one version inserted, changed and deleted in one table."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0


def content_id(entries: Mapping[str, TableEntry]) -> str:
    """16 hex digits that change whenever the stored data changes (``empty`` for none)."""
    if not entries:
        return EMPTY_VERSION
    content = json.dumps(
        {name: [p.sha256 for p in entry.parts] for name, entry in sorted(entries.items())}
    )
    return hashlib.sha256(content.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StoreVersion:
    """One version of the store, as :meth:`downside.store.Store.history` lists it.

    Attributes:
        number: 1 for the first version, one more for each change after it.
        written_at: when it was written (UTC).
        operation: ``ingest``, ``delete`` or ``rollback``.
        origin: what wrote it: the ingested folder or label, or the command.
        tables: rows per table after it.
        changes: per table it touched, the rows inserted, changed and deleted.
        content: the content id of every table after it (raw and record tables; the
            store's :attr:`~downside.store.Store.version` leaves the records out); two
            versions with the same content hold the same files.
        reason: why rows were deleted or a version restored, where given.
        restored_from: the version a rollback restored.
    """

    number: int
    written_at: pd.Timestamp
    operation: Operation
    origin: str
    tables: Mapping[str, int]
    changes: Mapping[str, TableChange]
    content: str
    reason: str | None = None
    restored_from: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """A version and the table entries it points to."""

    version: StoreVersion
    entries: Mapping[str, TableEntry]

    def to_json(self) -> dict[str, Any]:
        v = self.version
        return {
            "format": FORMAT_VERSION,
            "number": v.number,
            "written_at": v.written_at.isoformat(),
            "operation": v.operation,
            "origin": v.origin,
            "reason": v.reason,
            "restored_from": v.restored_from,
            "changes": {name: vars(change) for name, change in sorted(v.changes.items())},
            "tables": {name: entry.to_json() for name, entry in sorted(self.entries.items())},
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Snapshot:
        """Parse a record (format 2) or a format-1 manifest (version 1 of the store).

        Raises:
            KeyError, TypeError, ValueError: the JSON is not a record of either format.
        """
        if raw.get("format") == LEGACY_FORMAT:
            entries = {name: TableEntry.from_legacy(e) for name, e in raw["tables"].items()}
            version = StoreVersion(
                number=1,
                written_at=pd.Timestamp(raw.get("written_at", "1970-01-01T00:00:00+00:00")),
                operation="ingest",
                origin=LEGACY_ORIGIN,
                tables={name: e.rows for name, e in entries.items()},
                changes={name: TableChange(inserted=e.rows) for name, e in entries.items()},
                content=content_id(entries),
            )
            return cls(version, entries)
        if raw.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown format {raw.get('format')!r}")
        entries = {name: TableEntry.from_json(e) for name, e in raw["tables"].items()}
        version = StoreVersion(
            number=int(raw["number"]),
            written_at=pd.Timestamp(raw["written_at"]),
            operation=raw["operation"],
            origin=str(raw["origin"]),
            tables={name: e.rows for name, e in entries.items()},
            changes={name: TableChange(**c) for name, c in raw["changes"].items()},
            content=content_id(entries),
            reason=raw.get("reason"),
            restored_from=raw.get("restored_from"),
        )
        return cls(version, entries)


@dataclass(frozen=True)
class FileProblem:
    """A damaged data file found by :meth:`downside.store.Store.verify`.

    Attributes:
        path: the file.
        table: the table it belongs to.
        versions: the kept versions that use it.
        kind: ``missing``, ``size`` (truncated or extended) or ``sha256`` (overwritten).
        detail: what was expected and found.
    """

    path: str
    table: str
    versions: tuple[int, ...]
    kind: Literal["missing", "size", "sha256"]
    detail: str

    def render(self) -> str:
        used = ", ".join(str(v) for v in self.versions)
        return f"{self.path} ({self.table}, version(s) {used}): {self.kind}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    """Result of :meth:`downside.store.Store.verify`.

    Attributes:
        versions: the versions checked.
        files: data files checked.
        bytes: bytes hashed.
        problems: the damaged files.
        intact: the checked versions whose files are all intact, newest first.
    """

    versions: tuple[int, ...]
    files: int
    bytes: int
    problems: tuple[FileProblem, ...] = field(default_factory=tuple)
    intact: tuple[int, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Whether every checked file is intact."""
        return not self.problems


@dataclass(frozen=True)
class VacuumReport:
    """Result of :meth:`downside.store.Store.vacuum`.

    Attributes:
        kept: the versions kept, newest first.
        removed: the versions removed.
        files: data files deleted.
        bytes: bytes freed.
    """

    kept: tuple[int, ...]
    removed: tuple[int, ...]
    files: int
    bytes: int
