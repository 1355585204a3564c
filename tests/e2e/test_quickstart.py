"""`downside quickstart` end to end through the CLI, twice in the same home."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from downside.cli import app
from downside.config import load_settings


@pytest.mark.slow
def test_quickstart_prints_probabilities_and_registers_champions(isolated_env: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["quickstart", "--trials", "1", "--folds", "1"])
    assert first.exit_code == 0, first.output
    assert "P(drawdown within H days)" in first.output
    assert "P(support break)" in first.output
    percents = [float(x) for x in re.findall(r"(\d+\.\d)%", first.output)]
    assert percents
    assert all(0.0 <= p <= 100.0 for p in percents)

    second = runner.invoke(app, ["quickstart", "--trials", "1", "--folds", "1"])
    assert second.exit_code == 0, second.output

    settings = load_settings()
    assert settings.home == isolated_env
    client = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    for name in ("downside-drawdown", "downside-support"):
        champion = client.get_model_version_by_alias(name, "champion")
        challenger = client.get_model_version_by_alias(name, "challenger")
        assert str(champion.version) == "1"
        assert str(challenger.version) == "2"
