"""The Forecaster called from many threads at once: no errors, and every answer equal to
the single-threaded one (exactly: same frame, same dtypes).

All threads start together on a freshly loaded Forecaster, so they hit its cold caches
at once: the feature store reading a symbol's rows into memory while others ask for
them is where a missing lock showed (features read as missing, other probabilities).
"""

from __future__ import annotations

from pathlib import Path

from downside.api import Forecaster
from downside.testing.load import forecaster_load, forecaster_requests


def test_forecaster_from_many_threads_answers_as_from_one(trained_env: Path) -> None:
    alone = Forecaster.load()
    for _ in range(2):  # two cold starts
        report = forecaster_load(Forecaster.load(), alone, clients=16, duration_s=4.0)
        assert report.errors == 0, report.first_problem
        assert report.mismatches == 0, report.first_problem
        assert report.requests >= len(forecaster_requests()), report.summary()
