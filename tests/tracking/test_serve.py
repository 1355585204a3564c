"""`mlflow models serve` of the registered drawdown model, queried over real HTTP.

Two environment managers: ``local`` serves from this venv; ``uv`` builds a fresh
environment from the model's own ``requirements.txt`` (pinned packages from PyPI and
the downside wheel logged with the model) and serves from there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from downside.api import Forecaster
from downside.config import load_settings
from downside.testing.load import served_model

READY_TIMEOUT_S = {"local": 120.0, "uv": 600.0}
UV_CACHE = subprocess.run(
    [str(Path(sys.executable).parent / "uv"), "cache", "dir"],
    capture_output=True,
    text=True,
    check=True,
).stdout.strip()
"""The caller's uv cache, read before the tests move HOME: a fresh environment then
links cached wheels instead of downloading them again."""


@pytest.mark.slow
@pytest.mark.parametrize("env_manager", ["local", "uv"])
def test_served_model_answers_like_the_forecaster(
    trained_env: Path, tmp_path: Path, env_manager: str
) -> None:
    settings = load_settings()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.resolved_registry_uri,
        "MLFLOW_ENV_ROOT": str(tmp_path / "envs"),
        "UV_CACHE_DIR": UV_CACHE,
    }
    with served_model(
        "models:/downside-drawdown@champion",
        env=env,
        log=tmp_path / "serve.log",
        ready_timeout_s=READY_TIMEOUT_S[env_manager],
        env_manager=env_manager,
    ) as url:
        fc = Forecaster.load(support_uri=None)
        asof = "2025-01-15T00:00:00Z"
        expected = fc.predict_drawdown(["BTC", "ETH"], asof=asof, thresholds=[0.05, 0.1])
        expected = expected[expected["horizon_days"].isin([7.0, 14.0])].reset_index(drop=True)

        split = {
            "dataframe_split": {
                "columns": ["symbol", "asof", "threshold", "horizon_days"],
                "data": [
                    [s, asof, t, h]
                    for s in ("BTC", "ETH")
                    for t in (0.05, 0.1)
                    for h in (7.0, 14.0)
                ],
            }
        }
        response = httpx.post(f"{url}/invocations", json=split, timeout=60.0)
        assert response.status_code == 200, response.text
        got = pd.DataFrame(response.json()["predictions"])
        got = got.sort_values(["asof", "symbol", "threshold", "horizon_days"]).reset_index(
            drop=True
        )
        assert len(got) == len(expected) == 8
        np.testing.assert_allclose(got["probability"], expected["probability"], rtol=1e-12)
        np.testing.assert_allclose(got["leverage"], expected["leverage"], atol=1e-12)
        assert list(got["symbol"]) == list(expected["symbol"])

        latest = httpx.post(
            f"{url}/invocations",
            json={"dataframe_records": [{"symbol": "BTC"}]},
            timeout=60.0,
        )
        assert latest.status_code == 200, latest.text
        grid = pd.DataFrame(latest.json()["predictions"])
        assert len(grid) == 25
        assert set(grid["asof"]) == {f"{fc.feature_store.latest_asof('BTC'):%Y-%m-%dT%H:%M:%SZ}"}

        bad = httpx.post(
            f"{url}/invocations",
            json={"dataframe_records": [{"symbol": "BTC", "threshold": 0.9}]},
            timeout=60.0,
        )
        assert bad.status_code >= 400
        assert "outside the trained range" in bad.text
