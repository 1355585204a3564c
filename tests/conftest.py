"""Shared fixtures: every test gets its own DOWNSIDE_HOME, HOME and MLflow/Optuna storage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DOWNSIDE_SHARED_DATA", REPO.parent / "shared" / "data"))
SHARED_FIXTURES = SHARED_DATA.parent / "fixtures"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private home: no test sees another's store, registry or study."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("DOWNSIDE_HOME", str(tmp_path / "downside"))
    for var in (
        "DOWNSIDE_TRACKING_URI",
        "DOWNSIDE_REGISTRY_URI",
        "DOWNSIDE_OPTUNA_STORAGE",
        "DOWNSIDE_CONFIG",
        "MLFLOW_TRACKING_URI",
    ):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "downside"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real market data beside the checkout; tests using it skip when it is absent."""
    if not (SHARED_DATA / "ohlcv_daily.parquet").is_file():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set DOWNSIDE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """Recorded API responses beside the checkout."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"recorded responses folder {SHARED_FIXTURES} is absent")
    return SHARED_FIXTURES
