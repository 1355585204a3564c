"""The forecast ledger as a store table: append-only, known when recorded, versioned and
verified like every table, left out of the data version and the training fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.errors import InvalidNameError, SchemaError
from downside.store import LEDGER_TABLE, STORE_TABLES, PublicationRules, Store

from .conftest import make_bars

CLOCK = pd.Timestamp("2024-02-01 06:30", tz="UTC")


def ledger_rows(days: int = 2, probability: float = 0.2, version: str = "1") -> pd.DataFrame:
    """Drawdown forecasts of BTC for ``days`` as-of days, two cells each."""
    asof = pd.date_range("2024-01-10", periods=days, freq="D", tz="UTC", unit="us")
    rows = []
    for t in asof:
        for threshold in (0.05, 0.1):
            rows.append(
                {
                    "ts": t,
                    "symbol": "BTC",
                    "model": "downside-drawdown",
                    "model_version": version,
                    "cell": f"threshold={threshold!r},horizon_days=7.0",
                    "target": "drawdown",
                    "threshold": threshold,
                    "level": np.nan,
                    "horizon_days": 7.0,
                    "level_type": "",
                    "ref_close": 42000.0,
                    "probability": probability,
                    "baseline_probability": 0.15,
                    "p_reference": 0.18,
                    "contributions": json.dumps({"leverage": 0.01, "funding": 0.01}),
                    "leading_driver": "leverage",
                    "stale_features": "",
                    "data_version": "0123456789abcdef",
                    "origin": "forecast",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "store", now=lambda: CLOCK)
    s.ingest({"ohlcv_daily": make_bars(periods=20)}, origin="bars")
    return s


def test_the_ledger_is_a_store_table_with_its_own_rule() -> None:
    assert LEDGER_TABLE in STORE_TABLES
    rule = PublicationRules.default().rule_for(LEDGER_TABLE)
    assert rule.kind == "recorded"
    assert "when recorded" in rule.describe()


def test_append_records_new_keys_known_when_written(store: Store) -> None:
    report = store.append(LEDGER_TABLE, ledger_rows(), origin="forecast")
    assert report.changed
    assert report.inserted == 4
    stored = store.read(LEDGER_TABLE)
    assert len(stored) == 4
    assert (stored["available_ts"] == CLOCK).all()
    assert stored["event_ts"].dt.tz is not None
    # as of the issue time the rows are known, a moment before they are not
    assert len(store.read(LEDGER_TABLE, available_by=CLOCK)) == 4
    assert store.read(LEDGER_TABLE, available_by=CLOCK - pd.Timedelta("1s")).empty


def test_append_is_idempotent_and_first_record_wins(store: Store) -> None:
    store.append(LEDGER_TABLE, ledger_rows(), origin="first")
    versions = len(store.history())
    again = store.append(LEDGER_TABLE, ledger_rows(), origin="rerun")
    assert not again.changed
    assert again.inserted == 0
    assert again.version is None
    assert len(store.history()) == versions
    # other values for recorded keys are ignored by append, new keys are inserted
    later = store.append(LEDGER_TABLE, ledger_rows(days=3, probability=0.9), origin="later")
    assert later.inserted == 2
    stored = store.read(LEDGER_TABLE)
    assert len(stored) == 6
    first_days = stored["event_ts"] < pd.Timestamp("2024-01-12", tz="UTC")
    assert (stored.loc[first_days, "probability"] == 0.2).all()
    assert not stored.duplicated(["event_ts", "symbol", "model", "model_version", "cell"]).any()


def test_an_ingest_may_not_change_a_recorded_row(store: Store) -> None:
    store.append(LEDGER_TABLE, ledger_rows(), origin="first")
    with pytest.raises(SchemaError, match="append_only_change"):
        store.ingest({LEDGER_TABLE: ledger_rows(probability=0.5)}, origin="edit")
    assert (store.read(LEDGER_TABLE)["probability"] == 0.2).all()


def test_append_refuses_raw_tables(store: Store) -> None:
    with pytest.raises(InvalidNameError, match="record table"):
        store.append("ohlcv_daily", make_bars(), origin="x")


def test_ledger_rows_are_validated(store: Store) -> None:
    bad = ledger_rows()
    bad.loc[0, "probability"] = 1.5
    bad.loc[1, "symbol"] = "btc"
    bad = bad.drop(columns=["origin"])
    with pytest.raises(SchemaError) as caught:
        store.append(LEDGER_TABLE, bad, origin="bad")
    rules = {p.rule for p in caught.value.problems}
    assert {"missing_columns", "out_of_range", "non_canonical_symbols"} <= rules
    assert LEDGER_TABLE not in store.tables()


def test_recording_leaves_the_data_version_and_fingerprint_alone(store: Store) -> None:
    version, fingerprint = store.version, store.fingerprint()
    store.append(LEDGER_TABLE, ledger_rows(), origin="forecast")
    assert store.version == version
    assert store.fingerprint() == fingerprint
    assert LEDGER_TABLE in store.tables()


def test_ledger_survives_verify_and_rollback(store: Store) -> None:
    before = store.history()[0].number
    store.append(LEDGER_TABLE, ledger_rows(), origin="forecast")
    store.ingest({"ohlcv_daily": make_bars(start="2024-01-21", periods=3)}, origin="more")
    report = store.verify()
    assert report.ok
    ledger_files = [p for p in (store.root / "data").iterdir() if p.name.startswith(LEDGER_TABLE)]
    assert ledger_files
    rolled = store.rollback(before, reason="bad bars")
    assert rolled.restored_from == before
    assert len(store.read("ohlcv_daily")) == 20  # the raw table is restored
    assert len(store.read(LEDGER_TABLE)) == 4  # the track record stays
    # damage to a ledger file is found like damage to any part
    ledger_files[0].write_bytes(b"garbage")
    assert not store.verify().ok
