"""`downside forecast`, `evaluate`, `monitor` and what-if `predict` through the CLI.

The trained home holds the simulated market to 2025-06-30 (the latest as-of time is
2025-07-01 00:00 UTC) and models trained on all of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from downside import api
from downside.cli import app
from downside.config import load_settings
from downside.sources import read_files, simulate_market
from downside.store import LEDGER_TABLE, Store

NOW = "2025-07-01T06:00Z"


def _json(output: str) -> dict:  # type: ignore[type-arg]
    return json.loads(output)  # type: ignore[no-any-return]


def test_forecast_records_once_and_prints_json(runner: CliRunner, trained_env: Path) -> None:
    first = runner.invoke(app, ["forecast", "--no-report", "--now", NOW, "--format", "json"])
    assert first.exit_code == 0, first.output
    document = _json(first.stdout)
    assert document["asof"] == "2025-07-01T00:00:00Z"
    assert document["fresh"] is True
    assert document["recorded"] == len(document["drawdown"]) + len(document["support"]) > 0
    assert document["models"]["drawdown"] == "downside-drawdown v1"
    again = runner.invoke(app, ["forecast", "--no-report", "--now", NOW, "--format", "json"])
    assert again.exit_code == 0, again.output
    assert _json(again.stdout)["recorded"] == 0
    assert _json(again.stdout)["already"] == document["recorded"]
    ledger = Store.from_settings(load_settings()).read(LEDGER_TABLE)
    assert len(ledger) == document["recorded"]


def test_forecast_table_and_report(runner: CliRunner, trained_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = runner.invoke(app, ["forecast", "--symbols", "BTC", "--now", NOW, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "P(drawdown within H days)" in result.stdout
    assert "P(close below the level within H days)" in result.stdout
    assert "recorded" in result.stdout
    index = out / "2025-07-01" / "BTC" / "index.html"
    assert index.is_file()
    written = index.stat().st_mtime_ns
    again = runner.invoke(app, ["forecast", "--symbols", "BTC", "--now", NOW, "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert index.stat().st_mtime_ns == written  # a rerun changes nothing
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_forecast_with_stale_inputs_exits_3(runner: CliRunner, trained_env: Path) -> None:
    result = runner.invoke(app, ["forecast", "--no-report", "--format", "json"])
    assert result.exit_code == 3, result.output
    document = _json(result.stdout)
    assert document["fresh"] is False
    assert any("latest as-of time" in s for s in document["stale"])
    assert "stale inputs:" in result.stderr
    assert document["recorded"] > 0  # what was printed is on the record


def test_forecast_ingests_a_folder_first(
    runner: CliRunner, trained_env: Path, simulated_market: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "latest"
    folder.mkdir()
    for raw in read_files(simulated_market):
        if raw.table == "ohlcv_daily":
            raw.frame.tail(10).to_parquet(folder / "ohlcv_daily.parquet", index=False)
    result = runner.invoke(
        app, ["forecast", "--ingest", str(folder), "--no-report", "--now", NOW, "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert {"target", "probability", "symbol"} <= set(rows.columns)
    assert set(rows["target"]) == {"drawdown", "support"}


def test_evaluate_with_nothing_matured(runner: CliRunner, trained_env: Path) -> None:
    runner.invoke(app, ["forecast", "--no-report", "--now", NOW])
    result = runner.invoke(app, ["evaluate", "--no-log", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = _json(result.stdout)
    assert document["summary"] == []
    assert document["pending"] > 0
    table = runner.invoke(app, ["evaluate", "--no-log"])
    assert "no matured forecasts yet" in table.stdout


def test_monitor_exit_codes(runner: CliRunner, trained_env: Path) -> None:
    healthy = runner.invoke(app, ["monitor", "--now", NOW, "--format", "json"])
    assert healthy.exit_code == 0, healthy.output
    document = _json(healthy.stdout)
    assert document["status"] == "healthy"
    assert document["reasons"] == []
    assert {"input", "psi", "threshold", "drift"} <= set(document["drift"][0])
    late = runner.invoke(app, ["monitor", "--now", "2025-07-20T06:00Z"])
    assert late.exit_code == 3, late.output
    assert "stale source ohlcv_daily" in " ".join(late.stderr.split())


def test_monitor_without_models_exits_1(runner: CliRunner, isolated_env: Path) -> None:
    result = runner.invoke(app, ["monitor"])
    assert result.exit_code == 1
    assert "nothing trained yet" in result.stderr


def test_what_if_json(runner: CliRunner, trained_env: Path) -> None:
    result = runner.invoke(
        app,
        [
            "predict",
            "drawdown",
            "--symbols",
            "BTC",
            "--scenario",
            "leverage_flush",
            "--shock",
            "volatility*=1.2",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = _json(result.stdout)
    assert document["shocks"][-1] == "volatility x1.2"
    assert "price -12%" in document["shocks"]
    row = document["rows"][0]
    assert {"base_probability", "probability", "change", "reference", "leverage"} <= set(row)
    support = runner.invoke(app, ["predict", "support", "--symbols", "BTC", "--shock", "price-=3%"])
    assert support.exit_code == 0, support.output
    assert "what if price -3%" in " ".join(support.stdout.split())


@pytest.mark.slow
def test_evaluate_replay_fills_the_ledger(
    runner: CliRunner, isolated_env: Path, tmp_path: Path
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    text = Path(api.__file__).resolve().parents[2] / "models" / "drawdown.toml"
    lines = []
    for line in text.read_text().splitlines():
        if line.startswith("n_estimators"):
            line = "n_estimators = 20"
        elif line.startswith("min_train_days"):
            line = "min_train_days = 200"
        elif line.startswith("test_days"):
            line = "test_days = 30"
        elif line.startswith("min_child_samples"):
            line = "min_child_samples = 1000"
        lines.append(line)
    (specs / "drawdown.toml").write_text("\n".join(lines) + "\n")
    settings = load_settings({"model_dir": specs})
    sim = simulate_market(
        tmp_path / "market", start="2023-01-01", end="2024-03-31", symbols=("BTC", "ETH")
    )
    tables = {raw.table: raw.frame for raw in read_files(sim.out_dir)}
    cut = pd.Timestamp("2024-02-01", tz="UTC")
    store = Store.from_settings(settings)
    store.ingest({n: f[f["ts"] < cut] for n, f in tables.items()}, origin="before")
    api.train("drawdown", trials=0, folds=1, settings=settings)
    store.ingest(tables, origin="after")
    out = tmp_path / "track"
    args = ["evaluate", "--replay", "2024-02-01", "2024-03-31", "--model", "drawdown"]
    env = {"DOWNSIDE_MODEL_DIR": str(specs)}
    result = runner.invoke(
        app, [*args, "--n-boot", "20", "--out", str(out), "--format", "json"], env=env
    )
    assert result.exit_code == 0, result.output
    document = _json(result.stdout)
    assert document["replayed"]["downside-drawdown v1"]["inserted"] == 60 * 25 * 2
    summary = document["summary"][0]
    assert summary["target"] == "drawdown"
    assert summary["n"] > 0
    assert document["run_id"]
    assert (out / "index.html").is_file()
    assert (out / "summary.csv").is_file()
    again = runner.invoke(app, [*args, "--no-log", "--format", "json"], env=env)
    assert _json(again.stdout)["replayed"]["downside-drawdown v1"]["inserted"] == 0
    early = runner.invoke(
        app, ["evaluate", "--replay", "2024-01-15", "2024-02-15", "--model", "drawdown"], env=env
    )
    assert early.exit_code == 2
    assert "cannot replay downside-drawdown v1 from 2024-01-15" in " ".join(early.output.split())
