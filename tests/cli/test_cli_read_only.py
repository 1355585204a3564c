"""Read-only commands create no state: in an empty folder without a home they say what
to run first and leave no `.downside/` behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from downside.cli import app

TRAIN_FIRST = "nothing trained yet: run `downside quickstart` or `downside train SPEC`"
INGEST_FIRST = "nothing ingested yet: run `downside ingest files DIR`, `downside update` or"
WINDOW = ["--start", "2024-01-01", "--end", "2024-01-05"]


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working folder, empty, with DOWNSIDE_HOME unset (the home is ./.downside)."""
    folder = tmp_path / "empty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("DOWNSIDE_HOME", raising=False)
    return folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "drawdown", "--symbols", "BTC"], TRAIN_FIRST),
        (["predict", "support", "--symbols", "BTC", "--format", "json"], TRAIN_FIRST),
        (["models", "list"], TRAIN_FIRST),
        (["models", "promote", "downside-drawdown"], TRAIN_FIRST),
        (["report", "--symbol", "BTC", "--out", "page"], TRAIN_FIRST),
        (["features", "export", "--symbols", "BTC", *WINDOW], INGEST_FIRST),
        (["features", "export", "--symbols", "BTC", *WINDOW, "--out", "f.csv"], INGEST_FIRST),
    ],
    ids=["drawdown", "support", "models-list", "promote", "report", "export", "export-file"],
)
def test_read_only_command_without_state_exits_1_and_creates_nothing(
    empty_dir: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 1, result.output
    assert message in " ".join(result.stderr.split())
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert list(empty_dir.iterdir()) == []


def test_features_list_needs_no_state(empty_dir: Path) -> None:
    result = CliRunner().invoke(app, ["features", "list", "--format", "csv"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("name,family,inputs,window,ttl,description\n")
    assert list(empty_dir.iterdir()) == []
