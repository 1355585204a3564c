"""The tables the store keeps: the canonical raw tables of :mod:`downside.sources`, and
the store's own record tables.

A **record table** holds what downside itself produced, not market data. The only one is
the forecast ledger, :data:`LEDGER_TABLE`: every forecast the package issued (as-of
time, symbol, model version, cell, probability, baselines, driver points, the data
version it was computed from). Record tables differ from raw tables in three ways:

- **Append-only.** A stored row is never changed: an ingest that would change one is
  refused (``append_only_change``); :meth:`downside.store.Store.append` inserts the new
  keys and leaves the stored ones as first recorded (so a rerun is a no-op).
- **Publication rule ``recorded``.** A record is known when it was written: its
  ``available_ts`` is the store's clock at the write (it cannot be back-dated).
- **Not market data.** They are left out of :attr:`downside.store.Store.version` and
  :meth:`~downside.store.Store.fingerprint` (recording a forecast must not invalidate
  the feature caches, nor look like new training data), and a rollback restores the raw
  tables while the records stay as they are (rolling back a bad price file must not
  erase the track record). They are versioned, hashed and verified like every table.

Ledger schema (``ts`` = the as-of time of the forecast; keys ``symbol, model,
model_version, cell``; ``cell`` names the grid cell, e.g.
``threshold=0.1,horizon_days=7.0`` or ``level=85000.0,horizon_days=7.0``):

========================  ====  ========================================================
column                    kind  meaning
========================  ====  ========================================================
target                    str   ``drawdown`` or ``support``
threshold                 float drawdown fraction (NaN for support rows)
level                     float support level, a price (NaN for drawdown rows)
horizon_days              float horizon in days
level_type                str   kind of support level (empty for drawdown rows)
ref_close                 float the last close the forecast was made from
probability               float the model's probability
baseline_probability      float the volatility-only GBM first-passage probability
p_reference               float the model with no driver family switched on
contributions             str   JSON object: probability points per driver family
leading_driver            str   the family with the largest absolute points
stale_features            str   comma-separated inputs older than their TTL (missing)
data_version              str   digest of the inputs the forecast was computed from
                                (the store's data version, definitions and venues)
origin                    str   ``forecast`` (issued by ``downside forecast``) or
                                ``replay`` (what the model would have said, filled in
                                later by ``downside evaluate --replay``)
========================  ====  ========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from downside.sources import TABLES, TableSpec

LEDGER_TABLE: Final = "forecast_ledger"
"""The forecast ledger: every forecast issued, append-only."""

LEDGER_SPEC = TableSpec(
    LEDGER_TABLE,
    ("symbol", "model", "model_version", "cell"),
    {
        "target": "str",
        "threshold": "float",
        "level": "float",
        "horizon_days": "float",
        "level_type": "str",
        "ref_close": "float",
        "probability": "float",
        "baseline_probability": "float",
        "p_reference": "float",
        "contributions": "str",
        "leading_driver": "str",
        "stale_features": "str",
        "data_version": "str",
        "origin": "str",
    },
    required=("target", "horizon_days", "probability", "data_version", "origin"),
    positive=("level", "ref_close", "horizon_days"),
    freq="event",
    description="every forecast issued: as-of time (ts), model version, cell, probability, "
    "baselines, driver points and data version (append-only)",
    bounds={
        "probability": (0.0, 1.0),
        "baseline_probability": (0.0, 1.0),
        "p_reference": (0.0, 1.0),
        "threshold": (0.0, 1.0),
    },
)

RECORD_TABLES: Mapping[str, TableSpec] = {LEDGER_TABLE: LEDGER_SPEC}
"""Tables downside writes itself (append-only, publication rule ``recorded``)."""

STORE_TABLES: Mapping[str, TableSpec] = {**TABLES, **RECORD_TABLES}
"""Every table the store accepts: the raw tables, then the record tables."""


def is_record(table: str) -> bool:
    """Whether ``table`` is a record table (append-only, not market data)."""
    return table in RECORD_TABLES
