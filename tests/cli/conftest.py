"""CLI fixtures: a runner on an 80-column terminal and a small simulated market."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from downside.cli import _app
from downside.sources import SimulationResult, simulate_market

SYMBOLS = ("BTC", "ETH")
COLUMNS = 80
"""Every CLI test runs as on an 80-column terminal."""


@pytest.fixture(autouse=True)
def narrow_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """80 columns on both consoles. They are created once, at import, and read
    ``COLUMNS`` whenever they measure, unless a test fixed their width (``console.width
    = ...``): that is undone for the test and restored after it."""
    monkeypatch.setenv("COLUMNS", str(COLUMNS))
    for console in (_app.console, _app.err):
        monkeypatch.setattr(console, "_width", None)
    assert _app.console.width == _app.err.width == COLUMNS


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """Three months of a simulated BTC/ETH market: every canonical table, written once."""
    out = tmp_path_factory.mktemp("sim") / "market"
    return simulate_market(out, start="2024-01-01", end="2024-03-31", symbols=SYMBOLS)


@pytest.fixture
def market_dir(market: SimulationResult) -> Path:
    return market.out_dir
