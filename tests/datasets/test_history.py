"""Volatility histories of the HAR baseline: inputs from days already closed at the as-of
time, targets from the days after it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from downside.datasets._history import (
    DailyRealized,
    har_inputs,
    har_targets,
)
from downside.vocabulary import US_PER_DAY, to_us


def _history(days: int = 60) -> DailyRealized:
    start = to_us(pd.Series([pd.Timestamp("2024-01-01", tz="UTC")]))[0]
    day = start + US_PER_DAY * np.arange(days, dtype=np.int64)
    rv = 1e-4 * (1.0 + np.arange(days))  # day k has variance (k + 1) * 1e-4
    return DailyRealized(day, rv, rv / 2.0, np.where(np.arange(days) % 2, -0.01, 0.02))


def test_inputs_use_only_days_that_ended_by_the_asof_time() -> None:
    realized = {"BTC": _history()}
    keys = pd.DataFrame(
        {
            "symbol": ["BTC", "BTC", "ETH"],
            "asof": pd.to_datetime(
                ["2024-01-31T00:00Z", "2024-01-31T15:00Z", "2024-01-31T00:00Z"], utc=True
            ).astype("datetime64[us, UTC]"),
        }
    )
    x = har_inputs(realized, keys)
    # 2024-01-31 00:00: the last closed day is 2024-01-30 (day 29: variance 30e-4)
    assert x[0, 0] == pytest.approx(np.log(30e-4))
    assert x[0, 1] == pytest.approx(np.log(np.mean([26e-4, 27e-4, 28e-4, 29e-4, 30e-4])))
    assert x[0, 3] == pytest.approx(0.5)
    assert x[0, 4] == pytest.approx(-0.01)  # day 29 is odd: a falling day
    np.testing.assert_array_equal(x[1], x[0])  # intraday: still the same closed day
    assert np.isnan(x[2]).all()  # no hourly history for ETH


def test_targets_average_the_days_from_the_asof_day_on() -> None:
    realized = {"BTC": _history()}
    keys = pd.DataFrame(
        {
            "symbol": ["BTC", "BTC"],
            "asof": pd.to_datetime(["2024-01-31T00:00Z", "2023-12-01T00:00Z"], utc=True).astype(
                "datetime64[us, UTC]"
            ),
        }
    )
    y = har_targets(realized, keys, [1.0, 3.0])
    assert y[0, 0] == pytest.approx(np.log(31e-4))  # day 30 itself
    assert y[0, 1] == pytest.approx(np.log(np.mean([31e-4, 32e-4, 33e-4])))
    assert np.isnan(y[1]).all()  # before the history starts: no target, never a wrong day
