"""`downside ingest files DIR` through typer's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from downside.cli import app
from downside.config import load_settings
from downside.sources import TABLES, SimulationResult
from downside.store import REPORT_COLUMNS, Store

SHOWN = ("table", "read", "new", "changed", "same", "total")
"""Columns of the ingest table on an 80-column terminal (files named after their table)."""


def report_rows(output: str) -> dict[str, dict[str, str]]:
    """The body rows of the ingest report table printed by the CLI, keyed by table."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == len(SHOWN) and cells[0] in TABLES:
            rows[cells[0]] = dict(zip(SHOWN, cells, strict=True))
    return rows


def report_json(output: str) -> dict[str, dict[str, object]]:
    """The tables of an ingest report printed with --format json, keyed by table."""
    document = json.loads(output)
    return {row["table"]: row for row in document["tables"]}


def store() -> Store:
    return Store.from_settings(load_settings())


def test_ingest_prints_rows_per_table_and_is_idempotent(
    runner: CliRunner, market: SimulationResult
) -> None:
    first = runner.invoke(app, ["ingest", "files", str(market.out_dir), "--format", "json"])
    assert first.exit_code == 0, first.output
    rows = report_json(first.stdout)
    assert sorted(rows) == sorted(TABLES)
    for table, count in market.rows.items():
        assert list(rows[table]) == list(REPORT_COLUMNS)
        assert rows[table]["source"] == str(market.out_dir / f"{table}.parquet")
        assert rows[table]["rows_read"] == rows[table]["inserted"] == count
        assert rows[table]["total_rows"] == count
        assert rows[table]["updated"] == rows[table]["unchanged"] == 0
    version = store().version
    assert {t: e["rows"] for t, e in store().fingerprint().items()} == market.rows

    second = runner.invoke(app, ["ingest", "files", str(market.out_dir)])
    assert second.exit_code == 0, second.output
    again = report_rows(second.output)
    assert sorted(again) == sorted(TABLES)
    for table, count in market.rows.items():
        assert again[table]["new"] == again[table]["changed"] == "0"
        assert again[table]["same"] == again[table]["total"] == f"{count:,}"
    assert "(nothing changed)" in second.stdout
    assert "…" not in second.output
    assert store().version == version


def _copy(market: SimulationResult, dest: Path) -> Path:
    shutil.copytree(market.out_dir, dest)
    return dest


def test_bad_file_exits_2_names_the_problem_and_writes_nothing(
    runner: CliRunner, market: SimulationResult, tmp_path: Path
) -> None:
    folder = _copy(market, tmp_path / "bad")
    daily = pd.read_parquet(folder / "ohlcv_daily.parquet")
    daily.loc[3, "volume_base"] = -1.0
    pd.concat([daily, daily.iloc[[5]]]).to_parquet(folder / "ohlcv_daily.parquet", index=False)

    result = runner.invoke(app, ["ingest", "files", str(folder)])

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: input data failed validation: 2 problem(s)")
    assert "nothing was written" in result.stderr
    bad_file = str(folder / "ohlcv_daily.parquet")
    assert f"{bad_file}: duplicate_keys (2)" in result.stderr
    assert f"{bad_file}: negative_values (1)" in result.stderr
    assert "Traceback" not in result.output
    assert store().is_empty
    assert not (store().root / "data").exists()


def test_bad_file_after_a_good_ingest_keeps_the_stored_version(
    runner: CliRunner, market: SimulationResult, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["ingest", "files", str(market.out_dir)]).exit_code == 0
    version, files = store().version, sorted((store().root / "data").iterdir())
    folder = _copy(market, tmp_path / "bad")
    hourly = pd.read_parquet(folder / "ohlcv_hourly.parquet")
    hourly["close"] = hourly["close"] * 1.01  # would be 4,368 updates ...
    hourly["ts"] = hourly["ts"].dt.tz_localize(None)  # ... but the timestamps are naive
    hourly.to_parquet(folder / "ohlcv_hourly.parquet", index=False)

    result = runner.invoke(app, ["ingest", "files", str(folder)])

    assert result.exit_code == 2, result.output
    assert "naive_timestamps" in result.stderr
    assert "timezone-aware UTC" in result.stderr
    assert store().version == version
    assert sorted((store().root / "data").iterdir()) == files


def test_unknown_file_and_missing_folder_exit_2(
    runner: CliRunner, market: SimulationResult, tmp_path: Path
) -> None:
    folder = _copy(market, tmp_path / "extra")
    (folder / "prices.csv").write_text("ts,close\n", encoding="utf-8")
    unknown = runner.invoke(app, ["ingest", "files", str(folder)])
    assert unknown.exit_code == 2, unknown.output
    assert f"{folder / 'prices.csv'}: unknown_table" in unknown.stderr

    missing = runner.invoke(app, ["ingest", "files", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2, missing.output
    assert "missing_folder" in missing.stderr
    assert store().is_empty


def test_empty_file_is_reported_as_zero_rows(
    runner: CliRunner, market: SimulationResult, tmp_path: Path
) -> None:
    folder = tmp_path / "partial"
    folder.mkdir()
    shutil.copy(market.out_dir / "ohlcv_daily.parquet", folder)
    flows = pd.read_parquet(market.out_dir / "etf_flows_daily.parquet")
    flows.iloc[:0].to_csv(folder / "etf_flows_daily.csv", index=False)

    result = runner.invoke(app, ["ingest", "files", str(folder)])

    assert result.exit_code == 0, result.output
    rows = report_rows(result.output)
    assert rows["etf_flows_daily"]["read"] == rows["etf_flows_daily"]["total"] == "0"
    assert rows["ohlcv_daily"]["new"] == f"{market.rows['ohlcv_daily']:,}"
    assert store().tables() == ["ohlcv_daily"]
    assert "warning: " in result.stderr
    assert "etf_flows_daily" in result.stderr
    assert "empty_table" in result.stderr


def test_allow_null_updates_lets_a_missing_value_replace_a_stored_one(
    runner: CliRunner, market: SimulationResult, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["ingest", "files", str(market.out_dir)]).exit_code == 0
    holes = tmp_path / "holes"
    holes.mkdir()
    bars = pd.read_parquet(market.out_dir / "ohlcv_daily.parquet").head(3)
    bars["open"] = float("nan")
    bars.to_parquet(holes / "ohlcv_daily.parquet")
    version = store().version

    refused = runner.invoke(app, ["ingest", "files", str(holes)])
    assert refused.exit_code == 2, refused.output
    assert "null_overwrites_value" in refused.output
    assert store().version == version

    asked = runner.invoke(app, ["ingest", "files", str(holes), "--allow-null-updates"])
    assert asked.exit_code == 0, asked.output
    assert store().version != version
    assert store().read("ohlcv_daily")["open"].isna().sum() == 3
