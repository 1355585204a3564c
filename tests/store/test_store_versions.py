"""Versions: history, rollback byte for byte, delete with a reason, verify, vacuum, parts,
damaged files and format-1 stores."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from downside.errors import (
    EmptyStoreError,
    InvalidNameError,
    StoreCorruptError,
    StoreQueryError,
    UnknownVersionError,
)
from downside.store import MAX_PARTS, Store
from downside.testing.store import tree_digest

Bars = Callable[..., pd.DataFrame]


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _manifest(store: Store) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((store.root / "manifest.json").read_text())
    return loaded


def _part_files(store: Store, table: str) -> list[Path]:
    tables = _manifest(store)["tables"]
    assert isinstance(tables, dict)
    return [store.root / "data" / part["file"] for part in tables[table]["parts"]]


def test_every_change_is_a_version_with_time_origin_tables_and_counts(
    store: Store, bars: Bars
) -> None:
    assert store.history() == []
    first = store.ingest({"ohlcv_daily": bars(periods=5)}, origin="files")
    assert first.version is not None
    assert first.version.number == 1
    again = store.ingest({"ohlcv_daily": bars(periods=5)}, origin="files")
    assert again.version is None  # nothing changed: no version
    revised = bars(periods=6)
    revised.loc[0, "volume_base"] = 11.0
    store.ingest({"ohlcv_daily": revised, "ohlcv_hourly": bars(freq="1h", periods=3)}, origin="x")
    newest, oldest = store.history()
    assert (newest.number, oldest.number) == (2, 1)
    assert newest.operation == "ingest"
    assert newest.origin == "x"
    assert newest.tables == {"ohlcv_daily": 6, "ohlcv_hourly": 3}
    assert newest.changes["ohlcv_daily"].inserted == 1
    assert newest.changes["ohlcv_daily"].updated == 1
    assert newest.changes["ohlcv_hourly"].inserted == 3
    assert newest.content == store.version
    assert oldest.content == first.version_after
    assert newest.written_at.tzinfo is not None
    assert sorted(p.name for p in (store.root / "versions").iterdir()) == [
        "00000001.json",
        "00000002.json",
    ]


def test_rollback_restores_the_same_files_byte_for_byte(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_daily": bars(periods=5)}, origin="a")
    files_v1 = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in _part_files(store, "ohlcv_daily")
    }
    read_v1, version_v1 = store.read("ohlcv_daily"), store.version
    changed = bars(periods=8)
    changed.loc[1, "close"] = 101.5
    store.ingest({"ohlcv_daily": changed}, origin="b")
    assert store.version != version_v1
    restored = store.rollback(1, reason="b was wrong")
    assert (restored.number, restored.operation, restored.restored_from) == (3, "rollback", 1)
    assert restored.reason == "b was wrong"
    assert restored.changes["ohlcv_daily"].deleted == 3
    assert restored.changes["ohlcv_daily"].updated == 1
    now = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in _part_files(store, "ohlcv_daily")
    }
    assert now == files_v1
    assert store.version == version_v1
    pd.testing.assert_frame_equal(Store(store.root).read("ohlcv_daily"), read_v1)
    assert store.rollback(3).number == 3  # the current content: nothing written
    assert len(store.history()) == 3


def test_rollback_refuses_unknown_and_damaged_versions(store: Store, bars: Bars) -> None:
    with pytest.raises(UnknownVersionError, match="keeps versions none"):
        store.rollback(1)
    store.ingest({"ohlcv_daily": bars(periods=5)}, origin="a")
    store.ingest({"ohlcv_daily": bars(periods=5, start="2024-02-01")}, origin="b")
    with pytest.raises(UnknownVersionError, match=r"version 7 does not exist.*versions 1\.\.2"):
        store.rollback(7)
    first_part = _part_files(store, "ohlcv_daily")[0]
    first_part.write_bytes(first_part.read_bytes()[:-10])
    before = tree_digest(store.root)
    with pytest.raises(StoreCorruptError, match=r"cannot roll back to version 1.*size") as caught:
        store.rollback(1)
    assert str(first_part) in caught.value.files
    assert tree_digest(store.root) == before


def test_delete_removes_matching_rows_with_a_reason(store: Store, bars: Bars) -> None:
    frame = pd.concat([bars(periods=10), bars("binance_spot", periods=10, price=101.0)])
    store.ingest({"ohlcv_daily": frame}, origin="a")
    version = store.delete(
        "ohlcv_daily",
        symbol="BTC",
        venue="coinbase_spot",
        start=_ts("2024-01-03"),
        end=_ts("2024-01-06"),
        reason="bad ticks from the exchange",
    )
    assert (version.number, version.operation) == (2, "delete")
    assert version.reason == "bad ticks from the exchange"
    assert version.changes["ohlcv_daily"].deleted == 3
    assert "coinbase_spot" in version.origin
    got = store.read("ohlcv_daily")
    coinbase = got.loc[got["venue"] == "coinbase_spot", "event_ts"].dt.day.tolist()
    assert coinbase == [1, 2, 6, 7, 8, 9, 10]
    assert (got["venue"] == "binance_spot").sum() == 10
    store.delete("ohlcv_daily", venue="binance_spot", reason="venue dropped")
    assert set(store.read("ohlcv_daily")["venue"]) == {"coinbase_spot"}


def test_delete_refuses_bad_requests(
    store: Store, bars: Bars, macro: Callable[..., pd.DataFrame]
) -> None:
    with pytest.raises(InvalidNameError):
        store.delete("prices", reason="x")
    with pytest.raises(EmptyStoreError):
        store.delete("ohlcv_daily", symbol="BTC", reason="x")
    store.ingest(
        {"ohlcv_daily": bars(), "macro_rates_daily": macro("DGS10", ["2024-01-02"])}, origin="a"
    )
    with pytest.raises(StoreQueryError, match="a reason is required"):
        store.delete("ohlcv_daily", symbol="BTC", reason="  ")
    with pytest.raises(StoreQueryError, match=r"keys \['series'\]: no venue"):
        store.delete("macro_rates_daily", venue="x", reason="r")
    with pytest.raises(StoreQueryError, match="naive"):
        store.delete("ohlcv_daily", start=pd.Timestamp("2024-01-01"), reason="r")
    with pytest.raises(StoreQueryError, match="must be before end"):
        store.delete("ohlcv_daily", start=_ts("2024-01-02"), end=_ts("2024-01-01"), reason="r")
    with pytest.raises(StoreQueryError, match="no rows of 'ohlcv_daily' match symbol=DOGE"):
        store.delete("ohlcv_daily", symbol="DOGE", reason="r")
    version = store.delete("macro_rates_daily", symbol="DGS10", reason="series retired")
    assert store.tables() == ["ohlcv_daily"]
    assert version.tables == {"ohlcv_daily": 5}


@pytest.mark.parametrize("damage", ["truncated", "overwritten", "deleted"])
def test_verify_and_reads_find_a_damaged_file(store: Store, bars: Bars, damage: str) -> None:
    store.ingest({"ohlcv_daily": bars(periods=5)}, origin="a")
    store.ingest({"ohlcv_hourly": bars(freq="1h", periods=6)}, origin="b")
    assert store.verify().ok
    (path,) = _part_files(store, "ohlcv_hourly")
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:100])
    elif damage == "overwritten":  # same size, other bytes: only the hash tells
        path.write_bytes(data[:-8] + b"\x00" * 8)
    else:
        path.unlink()
    report = store.verify()
    assert not report.ok
    (problem,) = report.problems
    assert problem.path == str(path)
    assert problem.table == "ohlcv_hourly"
    assert problem.versions == (2,)
    assert (
        problem.kind == {"truncated": "size", "overwritten": "sha256", "deleted": "missing"}[damage]
    )
    assert report.intact == (1,)
    assert report.files == 2
    with pytest.raises(StoreCorruptError, match=rf"{path.name}.*store rollback N") as caught:
        Store(store.root).read("ohlcv_hourly")
    assert caught.value.files == (str(path),)
    assert len(Store(store.root).read("ohlcv_daily")) == 5  # other tables still read
    with pytest.raises(StoreCorruptError, match=path.name):
        Store(store.root).ingest({"ohlcv_hourly": bars(freq="1h", periods=7)}, origin="again")
    store.delete("ohlcv_hourly", reason="file damaged; ingest again")  # drops without reading
    report = Store(store.root).ingest({"ohlcv_hourly": bars(freq="1h", periods=7)}, origin="again")
    assert report.table("ohlcv_hourly").inserted == 7
    assert store.verify(all_versions=False).ok
    assert not store.verify().ok  # version 2 still uses the damaged file
    assert store.vacuum(keep=2).removed == (1, 2)
    assert store.verify().ok


def test_a_cached_table_notices_a_truncated_file(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_daily": bars(periods=5)}, origin="a")
    store.read("ohlcv_daily")
    (path,) = _part_files(store, "ohlcv_daily")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(StoreCorruptError, match=r"expected .* bytes, found 50"):
        store.read("ohlcv_daily")


def test_vacuum_removes_old_versions_and_their_files(store: Store, bars: Bars) -> None:
    for k in range(4):
        changed = bars(periods=5)
        changed["volume_base"] = float(k)
        store.ingest({"ohlcv_daily": changed}, origin=f"v{k}")
    data = store.root / "data"
    assert len(list(data.iterdir())) == 4
    with pytest.raises(StoreQueryError, match="keep must be >= 1"):
        store.vacuum(keep=0)
    report = store.vacuum(keep=2)
    assert (report.kept, report.removed, report.files) == ((4, 3), (1, 2), 2)
    assert report.bytes > 0
    assert len(list(data.iterdir())) == 2
    with pytest.raises(UnknownVersionError, match=r"keeps versions 3\.\.4"):
        store.rollback(1)
    assert store.rollback(3).number == 5
    assert store.read("ohlcv_daily")["volume_base"].tolist() == [2.0] * 5
    assert store.vacuum(keep=10).removed == ()


def test_small_ingests_add_small_parts_and_reads_stay_whole(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_hourly": bars(freq="1h", periods=4000)}, origin="base")
    base_size = _part_files(store, "ohlcv_hourly")[0].stat().st_size
    for k in range(12):
        page = bars(freq="1h", periods=4000 + 2 * (k + 1))
        store.ingest({"ohlcv_hourly": page.iloc[-2:]}, origin=f"page {k}")
        parts = _part_files(store, "ohlcv_hourly")
        assert len(parts) <= MAX_PARTS
        assert parts[0].stat().st_size == base_size  # the base is shared, never rewritten
    got = Store(store.root).read("ohlcv_hourly")
    pd.testing.assert_frame_equal(got, store.read("ohlcv_hourly"))
    assert len(got) == 4024
    assert got["event_ts"].is_monotonic_increasing
    revised = bars(freq="1h", periods=4024)
    revised.loc[4010, "volume_base"] = 3.0
    report = store.ingest({"ohlcv_hourly": revised}, origin="revision")
    assert (report.inserted, report.updated) == (0, 1)
    assert Store(store.root).read("ohlcv_hourly").loc[4010, "volume_base"] == 3.0
    sizes = sum(p.stat().st_size for p in (store.root / "data").iterdir())
    assert sizes < 3 * base_size  # 14 versions share the base: no full copy per page


def test_allow_null_updates_clears_stored_values(store: Store, bars: Bars) -> None:
    store.ingest({"ohlcv_daily": bars(periods=3)}, origin="a")
    cleared = bars(periods=3)
    cleared.loc[1, "volume_base"] = float("nan")
    report = store.ingest({"ohlcv_daily": cleared}, origin="b", allow_null_updates=True)
    assert report.updated == 1
    assert pd.isna(store.read("ohlcv_daily").loc[1, "volume_base"])


def test_a_format_1_store_reads_and_becomes_version_1(tmp_path: Path, bars: Bars) -> None:
    root = tmp_path / "old"
    seed = Store(tmp_path / "seed")
    seed.ingest({"ohlcv_daily": bars(periods=4)}, origin="a")
    (part,) = _part_files(seed, "ohlcv_daily")
    (root / "data").mkdir(parents=True)
    os.link(part, root / "data" / part.name)
    entry = _manifest(seed)["tables"]["ohlcv_daily"]  # type: ignore[index]
    legacy = {
        "format": 1,
        "written_at": "2025-01-01T00:00:00+00:00",
        "tables": {
            "ohlcv_daily": {
                "file": part.name,
                "sha256": entry["parts"][0]["sha256"],
                "rows": 4,
                "first_event_ts": entry["first_event_ts"],
                "last_event_ts": entry["last_event_ts"],
                "last_available_ts": entry["last_available_ts"],
            }
        },
    }
    (root / "manifest.json").write_text(json.dumps(legacy))
    old = Store(root)
    pd.testing.assert_frame_equal(old.read("ohlcv_daily"), seed.read("ohlcv_daily"))
    assert [v.number for v in old.history()] == [1]
    assert old.verify().ok
    old.ingest({"ohlcv_daily": bars(periods=6)}, origin="new")
    assert [v.number for v in old.history()] == [2, 1]
    assert (root / "versions" / "00000001.json").exists()
    assert old.rollback(1).restored_from == 1
    assert len(old.read("ohlcv_daily")) == 4


def test_jump_limits_come_from_settings(isolated_env: Path, bars: Bars) -> None:
    from downside.config import load_settings

    settings = load_settings(
        environ={"DOWNSIDE_STORE_JUMP_LIMIT": "3", "DOWNSIDE_STORE_VENUE_JUMP_LIMIT": "1.2"}
    )
    store = Store.from_settings(settings)
    assert (store.jump_limit, store.venue_jump_limit) == (3.0, 1.2)
    with pytest.raises(Exception, match="ratios above 1"):
        Store(isolated_env / "s", jump_limit=1.0)
