"""The point-in-time store: raw tables with ``event_ts`` and ``available_ts``.

``Store`` validates and upserts the canonical raw tables atomically (one manifest switch)
under an inter-process lock, computes ``available_ts`` with :class:`PublicationRules`,
keeps every change as a version (history, rollback, delete with a reason, verify,
vacuum), and serves tables, as-of filters and venue-stitched prices. It also keeps the
forecast ledger (:data:`LEDGER_TABLE`), an append-only record table written with
:meth:`Store.append` (see :mod:`downside.store._tables`).
"""

from downside.store._plausible import DEFAULT_JUMP_LIMIT, DEFAULT_VENUE_LIMIT
from downside.store._report import REPORT_COLUMNS, IngestReport, TableIngest
from downside.store._rules import PublicationRule, PublicationRules
from downside.store._stitch import PRICE_COLUMNS, SPAN_COLUMNS
from downside.store._store import (
    DEFAULT_DAILY_VENUES,
    DEFAULT_HOURLY_VENUES,
    MAX_PARTS,
    PAUSE_BEFORE_SWITCH_ENV,
    Store,
)
from downside.store._tables import (
    LEDGER_SPEC,
    LEDGER_TABLE,
    RECORD_TABLES,
    STORE_TABLES,
    is_record,
)
from downside.store._update import CHECKPOINT_NAME, SeriesUpdate, UpdateReport, update
from downside.store._validate import NAME_PATTERN, TS_FLOOR, check_name
from downside.store._versions import (
    FileProblem,
    StoreVersion,
    TableChange,
    VacuumReport,
    VerifyReport,
)

__all__ = [
    "CHECKPOINT_NAME",
    "DEFAULT_DAILY_VENUES",
    "DEFAULT_HOURLY_VENUES",
    "DEFAULT_JUMP_LIMIT",
    "DEFAULT_VENUE_LIMIT",
    "LEDGER_SPEC",
    "LEDGER_TABLE",
    "MAX_PARTS",
    "NAME_PATTERN",
    "PAUSE_BEFORE_SWITCH_ENV",
    "PRICE_COLUMNS",
    "RECORD_TABLES",
    "REPORT_COLUMNS",
    "SPAN_COLUMNS",
    "STORE_TABLES",
    "TS_FLOOR",
    "FileProblem",
    "IngestReport",
    "PublicationRule",
    "PublicationRules",
    "SeriesUpdate",
    "Store",
    "StoreVersion",
    "TableChange",
    "TableIngest",
    "UpdateReport",
    "VacuumReport",
    "VerifyReport",
    "check_name",
    "is_record",
    "update",
]
