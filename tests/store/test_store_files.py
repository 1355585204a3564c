"""``ingest_files``: tables in subfolders, suffixes in any case, nothing skipped silently."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from downside.errors import SchemaError
from downside.sources import read_files
from downside.store import Store


@pytest.fixture
def folder(tmp_path: Path, bars: Callable[..., pd.DataFrame]) -> Path:
    """The shared data's layout: ``ohlcv_daily.parquet`` and an empty ``implied_vol/``."""
    root = tmp_path / "data"
    (root / "implied_vol").mkdir(parents=True)
    bars().to_parquet(root / "ohlcv_daily.parquet", index=False)
    return root


def test_tables_in_subfolders_are_ingested(
    store: Store, implied_vol: Callable[..., pd.DataFrame], folder: Path
) -> None:
    implied_vol().to_parquet(folder / "implied_vol" / "implied_vol_daily.parquet", index=False)
    (folder / "README.md").write_text("# notes, not a table\n")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "ohlcv_hourly.parquet").write_bytes(b"hidden folders are not read")
    report = store.ingest_files(folder)
    sources = report.to_frame().set_index("table")["source"].to_dict()
    assert sources == {
        "implied_vol_daily": str(folder / "implied_vol" / "implied_vol_daily.parquet"),
        "ohlcv_daily": str(folder / "ohlcv_daily.parquet"),
    }
    assert report.table("implied_vol_daily").inserted == 5
    assert store.tables() == ["implied_vol_daily", "ohlcv_daily"]


def test_suffixes_are_matched_in_any_case(
    store: Store, implied_vol: Callable[..., pd.DataFrame], tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    implied_vol().to_parquet(folder / "implied_vol_daily.Parquet", index=False)
    assert store.ingest_files(folder).table("implied_vol_daily").inserted == 5


def test_the_same_table_in_two_subfolders_is_an_error_naming_both(
    store: Store, implied_vol: Callable[..., pd.DataFrame], tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    for sub in ("a", "b"):
        (folder / sub).mkdir(parents=True)
        implied_vol().to_parquet(folder / sub / "implied_vol_daily.parquet", index=False)
    with pytest.raises(SchemaError, match=r"also in a/implied_vol_daily\.parquet") as info:
        store.ingest_files(folder)
    (problem,) = info.value.problems
    assert (problem.rule, problem.source) == (
        "duplicate_table",
        str(folder / "b" / "implied_vol_daily.parquet"),
    )
    assert store.is_empty


def test_a_table_in_an_unsupported_format_is_refused_not_skipped(
    store: Store, implied_vol: Callable[..., pd.DataFrame], folder: Path
) -> None:
    implied_vol().to_csv(folder / "implied_vol" / "implied_vol_daily.csv.gz", index=False)
    (folder / "funding_rates_8h").write_text("no suffix at all")
    with pytest.raises(SchemaError) as info:
        store.ingest_files(folder)
    found = {(Path(p.source).name, p.rule) for p in info.value.problems}
    assert found == {
        ("implied_vol_daily.csv.gz", "unsupported_format"),
        ("funding_rates_8h", "unsupported_format"),
    }
    assert "suffix '.csv.gz'" in str(info.value)
    assert "no suffix" in str(info.value)
    assert store.is_empty


def test_unknown_data_files_in_subfolders_are_errors(
    store: Store, bars: Callable[..., pd.DataFrame], folder: Path
) -> None:
    bars().to_csv(folder / "implied_vol" / "prices.CSV", index=False)
    with pytest.raises(SchemaError, match=r"prices\.CSV: unknown_table"):
        store.ingest_files(folder)


def test_only_subfolders_still_count_and_an_empty_tree_is_an_error(
    store: Store, implied_vol: Callable[..., pd.DataFrame], tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    (folder / "deep" / "er").mkdir(parents=True)
    with pytest.raises(SchemaError, match=r"no_tables.*or its subfolders"):
        store.ingest_files(folder)
    implied_vol().to_parquet(folder / "deep" / "er" / "implied_vol_daily.parquet", index=False)
    assert [raw.table for raw in read_files(folder)] == ["implied_vol_daily"]


def test_a_linked_folder_is_read_once(
    implied_vol: Callable[..., pd.DataFrame], folder: Path
) -> None:
    implied_vol().to_parquet(folder / "implied_vol" / "implied_vol_daily.parquet", index=False)
    (folder / "implied_vol" / "loop").symlink_to(folder, target_is_directory=True)
    assert [raw.table for raw in read_files(folder)] == ["implied_vol_daily", "ohlcv_daily"]
