"""`downside backtest SPEC` through typer's CliRunner on a small simulated market."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from downside.cli import app
from downside.config import load_settings
from downside.sources import simulate_market
from downside.store import Store

SPEC = """
name = "drawdown"
target = "drawdown"

[data]
symbols = ["BTC", "ETH"]

[grid]
thresholds = [0.05, 0.10, 0.20]
horizons_days = [1, 7, 14]

[features]
families = ["leverage", "funding", "etf_flows", "rates", "technical"]

[walk_forward]
scheme = "expanding"
test_days = 120
embargo_days = 1
min_train_days = 360

[model]
n_estimators = 40
learning_rate = 0.1
num_leaves = 7
min_child_samples = 100
base = "vol_logistic"
"""
WINDOW = ["--start", "2023-05-01", "--end", "2023-12-31", "--n-boot", "20"]


@pytest.fixture(scope="module")
def market_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a simulated BTC/ETH market (2021-07 to 2024-03) and a small spec."""
    root = tmp_path_factory.mktemp("backtest")
    settings = load_settings({"home": root / "home"})
    sim = simulate_market(root / "market", start="2021-07-01", end="2024-03-31", seed=3)
    Store.from_settings(settings).ingest_files(sim.out_dir)
    (root / "spec.toml").write_text(SPEC, encoding="utf-8")
    return root


@pytest.fixture
def spec(market_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DOWNSIDE_HOME", str(market_home / "home"))
    return str(market_home / "spec.toml")


def test_backtest_writes_the_report_and_prints_skill(spec: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    run = CliRunner().invoke(
        app, ["backtest", spec, "--symbols", "BTC", *WINDOW, "--out", str(out)]
    )
    assert run.exit_code == 0, run.output
    shown = " ".join(run.stdout.split())
    assert "Brier skill vs baselines (2023-05-01 to 2023-12-31)" in shown
    assert f"report in {out}" in shown
    assert "…" not in run.output
    assert max(len(line) for line in run.stdout.splitlines()) <= 80
    assert (out / "summary.md").is_file()
    preds = pd.read_parquet(out / "predictions.parquet")
    assert set(preds["symbol"]) == {"BTC"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left

    again = CliRunner().invoke(app, ["backtest", spec, *WINDOW, "--out", str(out)])
    assert again.exit_code == 2
    assert "is not empty; pass --force" in " ".join(again.stderr.split())
    assert set(pd.read_parquet(out / "predictions.parquet")["symbol"]) == {"BTC"}


def test_deprecated_spec_option_still_works_with_a_note(spec: str, tmp_path: Path) -> None:
    out = tmp_path / "old"
    args = ["backtest", "--spec", spec, "--symbols", "ETH", *WINDOW, "--out", str(out)]
    args += ["--format", "json"]

    run = CliRunner().invoke(app, args)

    assert run.exit_code == 0, run.output
    note = " ".join(run.stderr.split())
    assert "warning: --spec is deprecated and goes in the next release" in note
    assert f"downside backtest {spec} --start" in note
    document = json.loads(run.stdout)
    assert document["start"] == "2023-05-01T00:00:00Z"
    assert document["end"] == "2023-12-31T00:00:00Z"
    assert document["out"] == str(out)
    assert {row["scope"] for row in document["skill"]} == {"overall", "horizon"}
    assert document["best_baseline"] in {row["baseline"] for row in document["skill"]}
    assert (out / "summary.md").is_file()


def test_window_must_be_ordered(spec: str, tmp_path: Path) -> None:
    out = tmp_path / "bad"
    bad = CliRunner().invoke(
        app, ["backtest", spec, "--start", "2023-12-31", "--end", "2023-01-01", "--out", str(out)]
    )
    assert bad.exit_code == 2
    assert "--end: expected a day at or after --start 2023-12-31" in bad.output
    assert not out.exists()
