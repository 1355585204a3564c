"""Shared fixtures: every test gets its own DOWNSIDE_HOME, HOME and MLflow/Optuna storage."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
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


PriceFactory = Callable[..., pd.DataFrame]
"""Builds synthetic price frames in the layout of ``Store.prices``."""


def make_prices(
    symbols: Sequence[str] = ("BTC", "ETH"),
    n: int = 300,
    *,
    freq: str = "1d",
    seed: int = 0,
    start: str = "2021-01-01",
    vol: float = 0.03,
    nan_low: float = 0.1,
    drop: int = 0,
) -> pd.DataFrame:
    """A random walk per symbol; ``nan_low`` of the lows (and highs) NaN, ``drop`` bars removed."""
    rng = np.random.default_rng(seed)
    bar = pd.Timedelta(days=1) if freq == "1d" else pd.Timedelta(hours=1)
    frames = []
    for k, symbol in enumerate(symbols):
        close = 100.0 * (k + 1) * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
        open_ = np.concatenate(([close[0]], close[:-1]))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, vol / 3, n)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, vol / 3, n)))
        missing = rng.random(n) < nan_low
        low[missing] = np.nan
        high[missing] = np.nan
        event = pd.date_range(start, periods=n, freq=bar, tz="UTC", unit="us")
        frame = pd.DataFrame(
            {
                "symbol": symbol,
                "event_ts": event,
                "available_ts": event + bar,
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume_base": rng.gamma(2.0, 50.0, n),
                "venue": "sim_spot",
            }
        )
        if drop:
            gone = rng.choice(np.arange(1, n - 1), size=drop, replace=False)
            frame = frame.drop(index=gone)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def prices_factory() -> PriceFactory:
    return make_prices
