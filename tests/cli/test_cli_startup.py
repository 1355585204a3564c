"""Startup: `downside --help` stays light (no heavy import), `--version`, `python -m
downside`, and `from downside import Forecaster` without importing the API eagerly.

Timings are measured in benchmarks/bench_cli.py, not here: a timed test fails at random
on a busy machine. What makes startup slow, importing MLflow, scikit-learn, LightGBM,
Optuna or pandas, is checked instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import downside
from downside.cli import app

HEAVY = ("mlflow", "lightgbm", "optuna", "sklearn", "pandas", "downside.api")
DOWNSIDE = Path(sys.executable).parent / "downside"


def _modules_after(code: str) -> set[str]:
    """Top-level modules (and downside.api) imported by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    names = json.loads(out.stdout.splitlines()[-1])
    return {n.split(".")[0] for n in names} | {n for n in names if n.startswith("downside.")}


@pytest.mark.parametrize(
    "code",
    ["import downside.cli", "import downside", "from downside.cli import app, main"],
)
def test_importing_the_cli_imports_nothing_heavy(code: str) -> None:
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_help_builds_every_command_without_heavy_imports() -> None:
    code = (
        "import sys\nfrom downside.cli import app\nsys.argv = ['downside', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_forecaster_is_importable_from_the_package() -> None:
    from downside import Forecaster
    from downside.api import Forecaster as FromApi

    assert Forecaster is FromApi
    assert "Forecaster" in downside.__all__
    assert "Forecaster" in dir(downside)
    with pytest.raises(AttributeError, match="no attribute 'Predictor'"):
        _ = downside.Predictor  # type: ignore[attr-defined]


def test_version_everywhere(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"downside {downside.__version__}\n"
    script = subprocess.run(
        [str(DOWNSIDE), "--version"], capture_output=True, text=True, check=True, timeout=120
    )
    module = subprocess.run(
        [sys.executable, "-m", "downside", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert script.stdout == module.stdout == result.stdout


def test_python_dash_m_shows_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "downside", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"COLUMNS": "100", "PATH": ""},
    )
    for command in ("quickstart", "ingest", "update", "train", "backtest", "predict", "report"):
        assert command in out.stdout
    assert "Usage: downside" in " ".join(out.stdout.split())


def test_no_arguments_prints_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "Usage:" in result.output
    assert "predict" in result.output
