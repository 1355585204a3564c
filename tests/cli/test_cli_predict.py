"""`downside predict drawdown|support` through typer's CliRunner, on 80 columns."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner, Result

from downside.cli import app


def _flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def _numeric_cells(result: Result) -> list[str]:
    """Table cells that hold a number (or should: a truncated one ends in an ellipsis)."""
    cells = []
    for line in result.stdout.splitlines():
        for cell in (c.strip() for c in line.split("│")[1:-1]):
            if cell and (cell[0].isdigit() or cell[0] in "+-" or cell.endswith("…")):
                cells.append(cell)
    return cells


def _check_fits(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    numbers = _numeric_cells(result)
    assert numbers
    assert not [c for c in numbers if "…" in c]
    assert "…" not in result.output


def test_predict_drawdown_table_and_files(trained_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    screen = runner.invoke(
        app, ["predict", "drawdown", "--symbols", "BTC,ETH", "--thresholds", "5,10,20"]
    )
    _check_fits(screen)
    assert "P(drawdown within H days)" in _flat(screen.output)
    assert "drivers (probability points)" in _flat(screen.output)
    assert "fund = funding" in _flat(screen.output)
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
    assert batch.stdout == ""
    assert f"wrote 30 rows to {out}" in _flat(batch.stderr)
    frame = pd.read_parquet(out)
    assert list(frame.columns[:5]) == ["asof", "symbol", "threshold", "horizon_days", "probability"]
    assert len(frame) == 10 * 3
    assert set(frame["threshold"]) == {0.1}
    csv = tmp_path / "dd.csv"
    single = runner.invoke(
        app, ["predict", "drawdown", "--symbols", "SOL", "--asof", "2025-01-02", "--out", str(csv)]
    )
    assert single.exit_code == 0, single.output
    written = pd.read_csv(csv)
    assert len(written) == 25
    assert set(written["asof"]) == {"2025-01-02T00:00:00Z"}


def test_predict_drawdown_batch_on_screen_is_split_to_fit(trained_env: Path) -> None:
    args = ["predict", "drawdown", "--symbols", "BTC,ETH", "--asof-from", "2024-12-01"]
    args += ["--asof-to", "2024-12-05", "--thresholds", "10", "--horizons", "7"]
    result = CliRunner().invoke(app, args)
    _check_fits(result)
    assert "2024-12-05" in result.stdout


def test_predict_drawdown_json_and_csv_hold_only_data(trained_env: Path) -> None:
    runner = CliRunner()
    args = ["predict", "drawdown", "--symbols", "BTC,ETH", "--thresholds", "10", "--horizons", "7"]

    as_json = runner.invoke(app, [*args, "--format", "json"])
    as_csv = runner.invoke(app, [*args, "--format", "csv"])

    assert as_json.exit_code == as_csv.exit_code == 0, as_json.output + as_csv.output
    rows = json.loads(as_json.stdout)
    assert [r["symbol"] for r in rows] == ["BTC", "ETH"]
    assert all(r["asof"] == "2025-07-01T00:00:00Z" for r in rows)
    assert all(r["threshold"] == 0.1 and r["horizon_days"] == 7.0 for r in rows)
    assert all(0.0 <= r["probability"] <= 1.0 for r in rows)
    frame = pd.read_csv(io.StringIO(as_csv.stdout))
    assert frame["symbol"].tolist() == ["BTC", "ETH"]
    assert frame["asof"].tolist() == ["2025-07-01T00:00:00Z"] * 2
    assert frame["probability"].tolist() == [r["probability"] for r in rows]


def test_predict_support_table_and_file(trained_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    screen = runner.invoke(app, ["predict", "support", "--symbol", "BTC", "--horizons", "7,14"])
    _check_fits(screen)
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
    both = runner.invoke(
        app, ["predict", "support", "--symbols", "BTC,ETH", "--horizons", "7", "--format", "json"]
    )
    assert {r["symbol"] for r in json.loads(both.stdout)} == {"BTC", "ETH"}


def test_predict_errors_exit_2_with_the_reason(trained_env: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["predict", "drawdown", "--symbols", "DOGE"])
    assert unknown.exit_code == 2
    assert "unknown symbol" in _flat(unknown.output)
    stale = runner.invoke(app, ["predict", "drawdown", "--symbols", "BTC", "--asof", "2025-08-01"])
    assert stale.exit_code == 2
    assert "stale" in _flat(stale.output)
    assert "--allow-stale" in _flat(stale.output)
    assert "ingest again" not in stale.output
    allowed = runner.invoke(
        app, ["predict", "drawdown", "--symbols", "BTC", "--asof", "2025-08-01", "--allow-stale"]
    )
    assert allowed.exit_code == 0, allowed.output
    assert "warning: stale inputs" in _flat(allowed.stderr)
    above = runner.invoke(app, ["predict", "support", "--symbol", "BTC", "--levels", "1e9"])
    assert above.exit_code == 2
    assert "not below the current price" in _flat(above.output)


def test_existing_output_needs_force_and_is_replaced_whole(
    trained_env: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "dd.csv"
    out.parent.mkdir()
    out.write_text("old\n", encoding="utf-8")
    args = ["predict", "drawdown", "--symbols", "BTC", "--out", str(out)]

    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2
    assert out.read_text(encoding="utf-8") == "old\n"

    forced = CliRunner().invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert len(pd.read_csv(out)) == 25
    assert [p.name for p in out.parent.iterdir()] == ["dd.csv"]  # no temporary file left
