"""`mlflow models serve` of the registered drawdown model, queried over real HTTP.

Two environment managers: ``local`` serves from this venv; ``uv`` builds a fresh
environment from the model's own ``requirements.txt`` (pinned packages from PyPI and
the downside wheel logged with the model) and serves from there.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from downside.api import Forecaster
from downside.config import load_settings

READY_TIMEOUT_S = {"local": 120.0, "uv": 600.0}
UV_CACHE = subprocess.run(
    [str(Path(sys.executable).parent / "uv"), "cache", "dir"],
    capture_output=True,
    text=True,
    check=True,
).stdout.strip()
"""The caller's uv cache, read before the tests move HOME: a fresh environment then
links cached wheels instead of downloading them again."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ping", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"server not ready after {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
@pytest.mark.parametrize("env_manager", ["local", "uv"])
def test_served_model_answers_like_the_forecaster(
    trained_env: Path, tmp_path: Path, env_manager: str
) -> None:
    settings = load_settings()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.resolved_registry_uri,
        # `local` execs uvicorn by name, `uv` runs uv by name: both live in the venv
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_ENV_ROOT": str(tmp_path / "envs"),
        "UV_CACHE_DIR": UV_CACHE,
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                "models:/downside-drawdown@champion",
                "--env-manager",
                env_manager,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(url, proc, log, READY_TIMEOUT_S[env_manager])
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
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
