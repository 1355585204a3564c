"""Empty tables: valid input that changes nothing, the same through ingest and ingest_files.

Regression: a table with zero rows used to raise IndexError in the monotonicity check of
the publication rules.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from downside.errors import SchemaError
from downside.sources import TABLES, SimulationResult, simulate_market
from downside.store import IngestReport, Store


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """A short simulated market: every canonical table with rows."""
    out = tmp_path_factory.mktemp("sim") / "market"
    return simulate_market(out, start="2024-01-01", end="2024-02-15", symbols=("BTC", "ETH"))


@pytest.fixture(scope="module")
def frames(market: SimulationResult) -> dict[str, pd.DataFrame]:
    return {path.stem: pd.read_parquet(path) for path in market.files}


def _assert_nothing_ingested(report: IngestReport, tables: list[str]) -> None:
    assert [t.table for t in report.tables] == tables
    for counts in report.tables:
        assert (counts.rows_read, counts.inserted, counts.updated, counts.unchanged) == (0, 0, 0, 0)
    assert not report.changed
    empty = [w for w in report.warnings if w.rule == "empty_table"]
    assert sorted(w.detail.split()[1] for w in empty) == sorted(tables)


def test_every_table_type_may_be_empty(store: Store, frames: dict[str, pd.DataFrame]) -> None:
    assert sorted(frames) == sorted(TABLES)
    empty = {table: frame.iloc[:0] for table, frame in frames.items()}
    report = store.ingest(empty, origin="empty")
    _assert_nothing_ingested(report, list(empty))
    assert all(c.total_rows == 0 for c in report.tables)
    assert store.is_empty
    assert store.version == "empty"
    assert report.venue_spans["1d"].empty


def test_empty_table_leaves_stored_rows_and_files_alone(
    store: Store, frames: dict[str, pd.DataFrame]
) -> None:
    store.ingest(frames, origin="sim")
    version = store.version
    files = sorted(p.name for p in (store.root / "data").iterdir())
    before = {table: store.read(table) for table in frames}

    report = store.ingest({t: f.iloc[:0] for t, f in frames.items()}, origin="empty")

    _assert_nothing_ingested(report, list(frames))
    assert {c.table: c.total_rows for c in report.tables} == {t: len(f) for t, f in frames.items()}
    assert store.version == version
    assert sorted(p.name for p in (store.root / "data").iterdir()) == files
    for table, frame in before.items():
        pd.testing.assert_frame_equal(store.read(table), frame)


def test_empty_table_beside_a_full_one(store: Store, frames: dict[str, pd.DataFrame]) -> None:
    report = store.ingest(
        {
            "etf_flows_daily": frames["etf_flows_daily"].iloc[:0],
            "ohlcv_daily": frames["ohlcv_daily"],
        },
        origin="mixed",
    )
    assert report.table("etf_flows_daily").rows_read == 0
    assert report.table("ohlcv_daily").inserted == len(frames["ohlcv_daily"])
    assert store.tables() == ["ohlcv_daily"]
    assert [w.rule for w in report.warnings] == ["empty_table"]


def test_empty_files_are_ingested_like_empty_frames(
    store: Store, frames: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    frames["ohlcv_daily"].iloc[:0].to_parquet(folder / "ohlcv_daily.parquet", index=False)
    # a header-only CSV: every column reads back as text, the timestamps as naive
    frames["macro_rates_daily"].iloc[:0].to_csv(folder / "macro_rates_daily.csv", index=False)
    frames["etf_flows_daily"].to_parquet(folder / "etf_flows_daily.parquet", index=False)

    report = store.ingest_files(folder)

    assert {c.table: c.rows_read for c in report.tables} == {
        "etf_flows_daily": len(frames["etf_flows_daily"]),
        "macro_rates_daily": 0,
        "ohlcv_daily": 0,
    }
    assert store.tables() == ["etf_flows_daily"]
    assert sorted(w.source for w in report.warnings if w.rule == "empty_table") == [
        str(folder / "macro_rates_daily.csv"),
        str(folder / "ohlcv_daily.parquet"),
    ]
    again = store.ingest_files(folder)
    assert not again.changed
    assert again.inserted == again.updated == 0


def test_empty_table_with_wrong_columns_is_still_rejected(
    store: Store, frames: dict[str, pd.DataFrame]
) -> None:
    wrong = frames["ohlcv_daily"].iloc[:0].drop(columns=["close"]).assign(closing=[])
    with pytest.raises(SchemaError, match=r"missing_columns.*close") as info:
        store.ingest({"ohlcv_daily": wrong}, origin="bad")
    assert {p.rule for p in info.value.problems} == {"missing_columns", "unknown_columns"}
    assert store.is_empty
