"""The store contract suite: the checks every point-in-time store passes.

Like optuna's ``optuna/testing/pytest_storages.py``, the suite is a test class. Subclass
:class:`StoreContract` in a test module and provide a ``store`` fixture that returns an
empty store (an object with the methods of :class:`StoreLike`) in a fresh folder; pytest
runs every check on it::

    import pytest
    from downside.store import Store
    from downside.testing.store import StoreContract

    class TestStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            return Store(tmp_path / "store", lock_timeout_s=5)

The checks, each on a simulated market of 90 days (:func:`downside.sources.simulate_market`,
every table, BTC and ETH):

1. an ingest is idempotent: the second ingest of the same files changes no row, no
   version and no byte under the store's root;
2. as-of reads never return a row with ``available_ts`` after the as-of time, and miss
   none known by then;
3. prices are stitched by venue preference: the first listed venue that has a bar serves
   it, one row per symbol and bar;
4. the version string changes exactly when stored data changes, and each change is one
   more entry in the history;
5. a refused ingest (a close 1000 times its neighbours) changes no byte under the root;
6. a rollback restores an earlier version's reads and version string exactly, as a new
   version; rows removed with a reason come back by rolling back the delete;
7. verify finds a damaged data file and names it; reading the damaged table raises
   :class:`~downside.errors.StoreCorruptError`; a rollback to an intact version works;
8. vacuum keeps the newest versions and their reads.

:meth:`StoreContract.damage` truncates the Parquet file under the root written last;
override it for a store that keeps its data elsewhere. pytest is imported only inside the checks.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from downside.errors import SchemaError, StoreCorruptError
from downside.sources import simulate_market
from downside.store import IngestReport, StoreVersion, VacuumReport, VerifyReport

CONTRACT_START = "2024-01-01"
CONTRACT_END = "2024-03-30"
CONTRACT_SYMBOLS = ("BTC", "ETH")
SECOND_VENUE = "contract_spot"
"""A second daily venue the suite adds for BTC (sim prices x 1.001), for stitching."""


class StoreLike(Protocol):
    """What the suite uses of a store; :class:`downside.store.Store` has it all."""

    root: Path

    @property
    def version(self) -> str: ...

    def tables(self) -> list[str]: ...

    def ingest(self, tables: Mapping[str, pd.DataFrame], *, origin: str) -> IngestReport: ...

    def ingest_files(self, directory: Path) -> IngestReport: ...

    def read(
        self,
        table: str,
        *,
        symbols: Sequence[str] | None = None,
        available_by: pd.Timestamp | None = None,
    ) -> pd.DataFrame: ...

    def prices(
        self, freq: str, venues: Sequence[str], symbols: Sequence[str] | None = None
    ) -> pd.DataFrame: ...

    def history(self) -> list[StoreVersion]: ...

    def rollback(self, version: int, *, reason: str | None = None) -> StoreVersion: ...

    def delete(
        self,
        table: str,
        *,
        symbol: str | None = None,
        venue: str | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        reason: str,
    ) -> StoreVersion: ...

    def verify(self, *, all_versions: bool = True) -> VerifyReport: ...

    def vacuum(self, *, keep: int) -> VacuumReport: ...


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (lock files excluded), by relative path."""
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith(".lock")
    }


def _market() -> dict[str, pd.DataFrame]:
    """The simulated tables, read back from a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="downside-contract-") as folder:
        result = simulate_market(
            Path(folder),
            start=CONTRACT_START,
            end=CONTRACT_END,
            symbols=CONTRACT_SYMBOLS,
            seed=11,
        )
        return {path.stem: pd.read_parquet(path) for path in result.files}


def _write(tables: Mapping[str, pd.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _reads(store: StoreLike) -> dict[str, pd.DataFrame]:
    return {table: store.read(table) for table in store.tables()}


def _same_reads(got: Mapping[str, pd.DataFrame], expected: Mapping[str, pd.DataFrame]) -> None:
    assert sorted(got) == sorted(expected)
    for table, frame in expected.items():
        pd.testing.assert_frame_equal(got[table], frame)


class StoreContract:
    """The contract suite as a pytest test class; subclass it (see the module docstring).

    The subclass provides a ``store`` fixture returning an empty store in a fresh folder.
    """

    def damage(self, store: StoreLike) -> Path:
        """Truncate the Parquet file under the root written last (the checks call it
        right after an ingest that added a table); return its path."""
        newest = max(store.root.rglob("*.parquet"), key=lambda p: p.stat().st_mtime_ns)
        data = newest.read_bytes()
        newest.write_bytes(data[: len(data) // 2])
        return newest

    def test_ingest_is_idempotent(self, store: StoreLike, tmp_path: Path) -> None:
        folder = _write(_market(), tmp_path / "market")
        first = store.ingest_files(folder)
        assert first.changed
        assert first.inserted == sum(t.rows_read for t in first.tables)
        files, version, reads = tree_digest(store.root), store.version, _reads(store)
        second = store.ingest_files(folder)
        assert not second.changed
        assert (second.inserted, second.updated) == (0, 0)
        assert store.version == version
        assert tree_digest(store.root) == files
        _same_reads(_reads(store), reads)
        assert len(store.history()) == 1

    def test_as_of_reads_hold_exactly_the_rows_known_then(self, store: StoreLike) -> None:
        store.ingest(_market(), origin="contract")
        rng = np.random.default_rng(5)
        for table in store.tables():
            full = store.read(table)
            lo, hi = full["event_ts"].min(), full["available_ts"].max()
            offsets = rng.uniform(0.0, 1.0, size=6)
            for asof in [lo + (hi - lo) * float(x) for x in offsets] + [lo, hi]:
                asof = pd.Timestamp(asof).floor("min")
                known = store.read(table, available_by=asof)
                assert (known["available_ts"] <= asof).all(), (table, asof)
                assert len(known) == int((full["available_ts"] <= asof).sum()), (table, asof)
                assert (known["available_ts"] >= known["event_ts"]).all(), table

    def test_prices_are_stitched_by_venue_preference(self, store: StoreLike) -> None:
        market = _market()
        sim = market["ohlcv_daily"]
        second = sim.loc[
            (sim["symbol"] == "BTC") & (sim["ts"] >= pd.Timestamp("2024-02-01", tz="UTC"))
        ]
        second = second.assign(venue=SECOND_VENUE)
        for column in ("open", "high", "low", "close"):
            second[column] = second[column] * 1.001
        daily = pd.concat([sim, second], ignore_index=True)
        store.ingest({**market, "ohlcv_daily": daily}, origin="contract")
        prices = store.prices("1d", [SECOND_VENUE, "sim_spot"])
        assert not prices.duplicated(["symbol", "event_ts"]).any()
        btc = prices.loc[prices["symbol"] == "BTC"]
        late = btc["event_ts"] >= pd.Timestamp("2024-02-01", tz="UTC")
        assert (btc.loc[late, "venue"] == SECOND_VENUE).all()
        assert (btc.loc[~late, "venue"] == "sim_spot").all()
        assert (prices.loc[prices["symbol"] == "ETH", "venue"] == "sim_spot").all()
        only_sim = store.prices("1d", ["sim_spot"])
        assert len(only_sim) == len(prices)
        assert set(prices["symbol"]) == set(CONTRACT_SYMBOLS)

    def test_version_changes_exactly_when_data_changes(self, store: StoreLike) -> None:
        market = _market()
        empty = store.version
        store.ingest({"ohlcv_daily": market["ohlcv_daily"]}, origin="a")
        first = store.version
        assert first != empty
        store.ingest({"ohlcv_daily": market["ohlcv_daily"]}, origin="a")
        assert store.version == first
        revised = market["ohlcv_daily"].copy()
        volume = revised["volume_base"].to_numpy(dtype="float64", copy=True)
        volume[0] += 1.0
        revised["volume_base"] = volume
        store.ingest({"ohlcv_daily": revised}, origin="revision")
        assert store.version not in (empty, first)
        history = store.history()
        assert [v.number for v in history] == [2, 1]
        assert history[0].changes["ohlcv_daily"].updated == 1
        assert history[0].content == store.version

    def test_a_refused_ingest_changes_no_byte(self, store: StoreLike) -> None:
        import pytest

        market = _market()
        store.ingest(market, origin="contract")
        files, version = tree_digest(store.root), store.version
        bad = market["ohlcv_daily"].copy()
        bad.loc[10, ["open", "high", "low", "close"]] *= 1000.0
        with pytest.raises(SchemaError, match="price_jump"):
            store.ingest({"ohlcv_daily": bad}, origin="bad")
        assert tree_digest(store.root) == files
        assert store.version == version

    def test_rollback_and_delete_restore_reads_exactly(self, store: StoreLike) -> None:
        market = _market()
        store.ingest({"ohlcv_daily": market["ohlcv_daily"]}, origin="a")
        first_reads, first = _reads(store), store.history()[0]
        store.ingest({"ohlcv_hourly": market["ohlcv_hourly"]}, origin="b")
        start = pd.Timestamp("2024-02-01", tz="UTC")
        end = pd.Timestamp("2024-02-08", tz="UTC")
        deleted = store.delete(
            "ohlcv_daily", symbol="BTC", start=start, end=end, reason="contract check"
        )
        assert deleted.reason == "contract check"
        assert deleted.changes["ohlcv_daily"].deleted == 7
        daily = store.read("ohlcv_daily", symbols=["BTC"])
        assert not daily["event_ts"].between(start, end, inclusive="left").any()
        restored = store.rollback(first.number, reason="back to the start")
        assert restored.restored_from == first.number
        assert restored.number == deleted.number + 1
        assert store.version == first.content
        _same_reads(_reads(store), first_reads)
        again = store.rollback(deleted.number - 1)
        assert again.number == restored.number + 1
        assert len(store.read("ohlcv_daily")) == len(market["ohlcv_daily"])

    def test_verify_names_a_damaged_file(self, store: StoreLike) -> None:
        import pytest

        market = _market()
        store.ingest({"ohlcv_daily": market["ohlcv_daily"]}, origin="a")
        store.ingest({"ohlcv_hourly": market["ohlcv_hourly"]}, origin="b")
        assert store.verify().ok
        damaged = self.damage(store)
        report = store.verify()
        assert not report.ok
        assert [Path(p.path).name for p in report.problems] == [damaged.name]
        assert report.problems[0].kind in ("size", "sha256")
        assert report.intact == (1,)
        with pytest.raises(StoreCorruptError, match=damaged.name):
            store.read("ohlcv_hourly")
        store.rollback(1, reason="hourly file damaged")
        assert store.verify(all_versions=False).ok
        assert store.tables() == ["ohlcv_daily"]

    def test_vacuum_keeps_the_newest_versions(self, store: StoreLike) -> None:
        market = _market()
        daily = market["ohlcv_daily"]
        for k, day in enumerate(sorted(daily["ts"].unique())[-3:]):
            store.ingest({"ohlcv_daily": daily.loc[daily["ts"] <= day]}, origin=f"step {k}")
        reads = _reads(store)
        report = store.vacuum(keep=2)
        assert report.kept == (3, 2)
        assert report.removed == (1,)
        assert [v.number for v in store.history()] == [3, 2]
        _same_reads(_reads(store), reads)
        assert store.verify().ok


__all__ = [
    "CONTRACT_END",
    "CONTRACT_START",
    "CONTRACT_SYMBOLS",
    "SECOND_VENUE",
    "StoreContract",
    "StoreLike",
    "tree_digest",
]
