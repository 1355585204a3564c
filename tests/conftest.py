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


TINY_TREES = 60
"""Boosting rounds of the models trained once per session for API, CLI, serving, report
and notebook tests (the shipped specs use 300)."""


def write_tiny_specs(target: Path) -> Path:
    """Copies of the shipped specs with ``TINY_TREES`` rounds, written to ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("drawdown", "support"):
        text = (REPO / "models" / f"{name}.toml").read_text(encoding="utf-8")
        lines = [
            f"n_estimators = {TINY_TREES}" if line.startswith("n_estimators") else line
            for line in text.splitlines()
        ]
        (target / f"{name}.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DOWNSIDE_HOME holding the simulated market and both models trained and
    registered as champions (no tuning, one scoring fold, ``TINY_TREES`` rounds,
    single-threaded); built once per session, about a minute. Never write to it: use
    ``trained_env``, which works on a copy."""
    from downside import api
    from downside.config import load_settings
    from downside.features import FeatureStore
    from downside.sources import simulate_market
    from downside.store import Store

    base = tmp_path_factory.mktemp("trained")
    home = base / "downside"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(base))
        mp.setenv("XDG_CONFIG_HOME", str(base / ".config"))
        mp.setenv("DOWNSIDE_HOME", str(home))
        for var in ("DOWNSIDE_TRACKING_URI", "DOWNSIDE_REGISTRY_URI", "MLFLOW_TRACKING_URI"):
            mp.delenv(var, raising=False)
        settings = load_settings({"home": home, "model_dir": write_tiny_specs(base / "specs")})
        sim = simulate_market(base / "market", seed=settings.seed)
        Store.from_settings(settings).ingest_files(sim.out_dir)
        FeatureStore.from_settings(settings).build()
        for name in ("drawdown", "support"):
            api.train(name, trials=0, folds=1, settings=settings)
    return home


@pytest.fixture
def trained_env(trained_home: Path, isolated_env: Path) -> Path:
    """This test's DOWNSIDE_HOME as a copy of ``trained_home`` (store, features, registry);
    the model artifacts stay where the session wrote them (read only)."""
    import shutil

    shutil.copytree(trained_home, isolated_env)
    return isolated_env


@pytest.fixture(scope="session")
def simulated_market(trained_home: Path) -> Path:
    """The folder of simulated table files ingested into ``trained_home``."""
    return trained_home.parent / "market"
