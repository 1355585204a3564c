"""`mlflow models serve` of the champion under load: 32 concurrent clients for
``LOAD_S`` seconds (``benchmarks/bench_load.py`` runs the full 60 s and records the
latencies), no error, and every answer identical to the single-threaded one.

The server starts cold and all clients start together. Each request's answers must be
byte-identical to each other; the first one must equal the Forecaster's single-threaded
answer in this process (to 1e-12: floats travel as JSON text).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from downside.api import Forecaster
from downside.config import load_settings
from downside.testing.load import served_expected, served_load, served_model, served_requests

LOAD_S = 15.0
CLIENTS = 32


@pytest.mark.slow
def test_served_champion_under_load(trained_env: Path, tmp_path: Path) -> None:
    settings = load_settings()
    expected = served_expected(Forecaster.load(support_uri=None))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.resolved_registry_uri,
    }
    with served_model(
        "models:/downside-drawdown@champion", env=env, log=tmp_path / "serve.log"
    ) as url:
        report, first = served_load(url, expected, clients=CLIENTS, duration_s=LOAD_S)
    assert report.errors == 0, report.first_problem
    assert report.mismatches == 0, report.first_problem
    assert sorted(first) == list(range(len(served_requests()))), report.summary()
    assert report.requests >= CLIENTS, report.summary()
