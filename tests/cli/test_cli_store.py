"""`downside store history | rollback | delete | verify | vacuum` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from downside.config import load_settings
from downside.store import Store


def _bars(periods: int, freq: str) -> pd.DataFrame:
    """Consistent BTC bars from 2024-01-01 at one venue (open <= close, low < open)."""
    close = 100.0 + np.arange(periods, dtype="float64")
    return pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=periods, freq=freq, tz="UTC", unit="us"),
            "symbol": "BTC",
            "pair": "BTC-USD",
            "venue": "coinbase_spot",
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume_base": 10.0,
            "volume_quote": np.nan,
        }
    )


@pytest.fixture
def cli_store(isolated_env: Path) -> Store:
    """The settings' store with two versions: daily bars, then hourly bars."""
    store = Store.from_settings(load_settings())
    store.ingest({"ohlcv_daily": _bars(10, "1D")}, origin="first")
    store.ingest({"ohlcv_hourly": _bars(6, "1h")}, origin="[bold]second[/]")
    return store


def _run(*args: str) -> tuple[int, str]:
    from downside.cli import app

    result = CliRunner().invoke(app, ["store", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_history_lists_versions_newest_first(cli_store: Store) -> None:
    code, out = _run("history")
    assert code == 0, out
    assert out.index("[bold]second[/]") < out.index("first")  # user text printed as is
    assert "ohlcv_hourly +6" in out
    assert f"content id {cli_store.version}" in out
    code, out = _run("history", "-n", "1")
    assert "first" not in out


def test_history_of_an_empty_store(isolated_env: Path) -> None:
    code, out = _run("history")
    assert code == 0
    assert "no versions yet" in out


def test_delete_then_rollback(cli_store: Store) -> None:
    code, out = _run(
        "delete",
        "--table",
        "ohlcv_daily",
        "--symbol",
        "BTC",
        "--from",
        "2024-01-03",
        "--to",
        "2024-01-05",
        "--reason",
        "bad [red]ticks[/]",
    )
    assert code == 0, out
    assert "version 3" in out
    assert "ohlcv_daily -2" in out
    assert cli_store.history()[0].reason == "bad [red]ticks[/]"
    assert len(cli_store.read("ohlcv_daily")) == 8
    code, out = _run("history")
    assert "bad [red]ticks[/]" in out
    code, out = _run("rollback", "2", "--reason", "undo")
    assert code == 0, out
    assert "restored version 2 as version 4" in out
    assert len(Store(cli_store.root).read("ohlcv_daily")) == 10
    code, out = _run("rollback", "4")
    assert code == 0
    assert "nothing was written" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rollback", "9"], "version 9 does not exist"),
        (["delete", "--table", "ohlcv_daily", "--reason", "r"], "give at least one filter"),
        (["delete", "--table", "nope", "--all", "--reason", "r"], "invalid table name 'nope'"),
        (["delete", "--table", "ohlcv_daily", "--symbol", "DOGE", "--reason", "r"], "no rows"),
        (["delete", "--table", "ohlcv_daily", "--from", "soon", "--reason", "r"], "--from"),
        (
            ["delete", "--table", "ohlcv_daily", "--all", "--symbol", "BTC", "--reason", "r"],
            "--all",
        ),
        (["delete", "--table", "ohlcv_daily", "--all", "--reason", " "], "a reason is required"),
        (["vacuum", "--keep", "0"], "keep must be >= 1"),
    ],
)
def test_bad_input_exits_2(cli_store: Store, args: list[str], message: str) -> None:
    before = cli_store.version
    code, out = _run(*args)
    assert code == 2, out
    assert message in out
    assert cli_store.version == before


def test_verify_exits_1_and_names_a_damaged_file(cli_store: Store) -> None:
    code, out = _run("verify")
    assert code == 0, out
    assert "every file is intact" in out
    damaged = max((cli_store.root / "data").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    damaged.write_bytes(damaged.read_bytes()[:10])
    code, out = _run("verify")
    assert code == 1, out
    assert damaged.name in out
    assert "versions whose files are all intact: 1" in out
    code, out = _run("delete", "--table", "ohlcv_hourly", "--all", "--reason", "damaged")
    assert code == 0, out
    code, out = _run("verify", "--current-only")
    assert code == 0, out


def test_vacuum_keeps_the_newest(cli_store: Store) -> None:
    code, out = _run("vacuum", "--keep", "1")
    assert code == 0, out
    assert "kept versions 2; removed 1" in out
    assert [v.number for v in cli_store.history()] == [2]
