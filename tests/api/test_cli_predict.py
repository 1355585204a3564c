"""`downside predict drawdown|support` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from downside.cli import app


def _flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def test_predict_drawdown_table_and_files(trained_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    screen = runner.invoke(
        app, ["predict", "drawdown", "--symbols", "BTC,ETH", "--thresholds", "5,10,20"]
    )
    assert screen.exit_code == 0, screen.output
    assert "P(drawdown within H days)" in _flat(screen.output)
    assert "driver contributions" in _flat(screen.output)
    out = tmp_path / "dd.parquet"
    batch = runner.invoke(
        app,
        [
            "predict",
            "drawdown",
            "--symbols",
            "BTC",
            "--asof-from",
            "2024-12-01",
            "--asof-to",
            "2024-12-10",
            "--thresholds",
            "10",
            "--horizons",
            "1,7,30",
            "--out",
            str(out),
        ],
    )
    assert batch.exit_code == 0, batch.output
    frame = pd.read_parquet(out)
    assert list(frame.columns[:5]) == ["asof", "symbol", "threshold", "horizon_days", "probability"]
    assert len(frame) == 10 * 3
    assert set(frame["threshold"]) == {0.1}
    csv = tmp_path / "dd.csv"
    single = runner.invoke(
        app, ["predict", "drawdown", "--symbols", "SOL", "--asof", "2025-01-02", "--out", str(csv)]
    )
    assert single.exit_code == 0, single.output
    assert len(pd.read_csv(csv)) == 25


def test_predict_support_table_and_file(trained_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    screen = runner.invoke(app, ["predict", "support", "--symbol", "BTC", "--horizons", "7,14"])
    assert screen.exit_code == 0, screen.output
    assert "P(close below the level within H days)" in _flat(screen.output)
    out = tmp_path / "sup.csv"
    levels = runner.invoke(
        app,
        ["predict", "support", "--symbol", "BTC", "--levels", "60000,50000", "--out", str(out)],
    )
    assert levels.exit_code == 0, levels.output
    frame = pd.read_csv(out)
    assert list(frame.columns[:5]) == ["asof", "symbol", "level", "horizon_days", "probability"]
    assert set(frame["level"]) == {60000.0, 50000.0}


def test_predict_errors_exit_2_with_the_reason(trained_env: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["predict", "drawdown", "--symbols", "DOGE"])
    assert unknown.exit_code == 2
    assert "unknown symbol" in _flat(unknown.output)
    stale = runner.invoke(app, ["predict", "drawdown", "--symbols", "BTC", "--asof", "2025-08-01"])
    assert stale.exit_code == 2
    assert "stale" in _flat(stale.output)
    assert "--allow-stale" in _flat(stale.output)
    allowed = runner.invoke(
        app, ["predict", "drawdown", "--symbols", "BTC", "--asof", "2025-08-01", "--allow-stale"]
    )
    assert allowed.exit_code == 0, allowed.output
    assert "stale inputs" in _flat(allowed.output)
    above = runner.invoke(app, ["predict", "support", "--symbol", "BTC", "--levels", "1e9"])
    assert above.exit_code == 2
    assert "not below the current price" in _flat(above.output)
