"""What an ingest did, per table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from downside.errors import Problem
from downside.store._versions import StoreVersion

REPORT_COLUMNS = (
    "table",
    "source",
    "rows_read",
    "inserted",
    "updated",
    "unchanged",
    "total_rows",
)


@dataclass(frozen=True)
class TableIngest:
    """Counts of one table in one ingest.

    Attributes:
        table: canonical table name.
        source: file or label the rows came from.
        rows_read: rows in the input.
        inserted: rows whose key (``ts`` + keys) was new.
        updated: rows whose key existed with different values (replaced).
        unchanged: rows identical to the stored ones.
        total_rows: rows of the table after the ingest.
    """

    table: str
    source: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    total_rows: int


@dataclass(frozen=True, eq=False)
class IngestReport:
    """Result of :meth:`downside.store.Store.ingest`.

    Attributes:
        origin: label of the ingest (a folder, ``simulated``, a connector name).
        tables: counts per table, in input order.
        version_before: store data version (:attr:`Store.version`) before the ingest.
        version_after: the data version after it (equal when no raw table changed).
        warnings: rows kept but worth a look (for example OHLC slightly inconsistent).
        venue_spans: per frequency (``1d``, ``1h``) of the price tables in this ingest,
            which venue served which span per symbol under the default venue
            preference; columns ``symbol, venue, first_ts, last_ts, bars``.
        version: the store version this ingest wrote; ``None`` when it changed nothing.
    """

    origin: str
    tables: tuple[TableIngest, ...]
    version_before: str
    version_after: str
    warnings: tuple[Problem, ...] = ()
    venue_spans: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    version: StoreVersion | None = None

    @property
    def changed(self) -> bool:
        """Whether stored data changed (a version was written: raw tables or records)."""
        return self.version is not None or self.version_before != self.version_after

    @property
    def inserted(self) -> int:
        """Rows inserted over all tables."""
        return sum(t.inserted for t in self.tables)

    @property
    def updated(self) -> int:
        """Rows updated over all tables."""
        return sum(t.updated for t in self.tables)

    def table(self, name: str) -> TableIngest:
        """Counts of table ``name``.

        Raises:
            KeyError: the table was not part of this ingest.
        """
        for entry in self.tables:
            if entry.table == name:
                return entry
        ingested = [t.table for t in self.tables]
        raise KeyError(f"table {name!r} was not ingested; this ingest holds {ingested}")

    def to_frame(self) -> pd.DataFrame:
        """One row per table with columns :data:`REPORT_COLUMNS` (for the CLI)."""
        rows = [
            (t.table, t.source, t.rows_read, t.inserted, t.updated, t.unchanged, t.total_rows)
            for t in self.tables
        ]
        frame = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
        counts = list(REPORT_COLUMNS[2:])
        frame[counts] = frame[counts].astype("int64")
        return frame
