"""CLI fixtures: a runner, consoles wide enough not to truncate, a small simulated market."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from downside.cli import _app
from downside.sources import SimulationResult, simulate_market

SYMBOLS = ("BTC", "ETH")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose rich consoles neither truncate table cells nor wrap messages.

    The consoles are created at import; rich reads ``COLUMNS`` from the environment each
    time it measures a console that is not a terminal.
    """
    monkeypatch.setenv("COLUMNS", "10000")
    assert _app.console.width == _app.err.width == 10_000
    return CliRunner()


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """Three months of a simulated BTC/ETH market: every canonical table, written once."""
    out = tmp_path_factory.mktemp("sim") / "market"
    return simulate_market(out, start="2024-01-01", end="2024-03-31", symbols=SYMBOLS)


@pytest.fixture
def market_dir(market: SimulationResult) -> Path:
    return market.out_dir
