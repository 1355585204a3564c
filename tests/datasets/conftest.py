"""Synthetic price frames in the layout of ``Store.prices`` (same factory as tests/targets)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest

PriceFactory = Callable[..., pd.DataFrame]


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
