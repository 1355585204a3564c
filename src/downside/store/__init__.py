"""The point-in-time store: raw tables with ``event_ts`` and ``available_ts``.

``Store`` validates and upserts the canonical raw tables atomically (one manifest switch)
under an inter-process lock, computes ``available_ts`` with :class:`PublicationRules`,
and serves tables, as-of filters and venue-stitched prices.
"""

from downside.store._report import REPORT_COLUMNS, IngestReport, TableIngest
from downside.store._rules import PublicationRule, PublicationRules
from downside.store._stitch import PRICE_COLUMNS, SPAN_COLUMNS
from downside.store._store import (
    DEFAULT_DAILY_VENUES,
    DEFAULT_HOURLY_VENUES,
    PAUSE_BEFORE_SWITCH_ENV,
    Store,
)
from downside.store._update import CHECKPOINT_NAME, SeriesUpdate, UpdateReport, update
from downside.store._validate import NAME_PATTERN, check_name

__all__ = [
    "CHECKPOINT_NAME",
    "DEFAULT_DAILY_VENUES",
    "DEFAULT_HOURLY_VENUES",
    "NAME_PATTERN",
    "PAUSE_BEFORE_SWITCH_ENV",
    "PRICE_COLUMNS",
    "REPORT_COLUMNS",
    "SPAN_COLUMNS",
    "IngestReport",
    "PublicationRule",
    "PublicationRules",
    "SeriesUpdate",
    "Store",
    "TableIngest",
    "UpdateReport",
    "check_name",
    "update",
]
