"""Builders of small canonical raw tables for the store tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.store import Store

BarsFactory = Callable[..., pd.DataFrame]


def make_bars(
    venue: str = "coinbase_spot",
    symbol: str = "BTC",
    start: str = "2024-01-01",
    periods: int = 5,
    freq: str = "1D",
    price: float = 100.0,
) -> pd.DataFrame:
    """Consistent OHLCV bars (open <= close, low < open, high > close)."""
    ts = pd.date_range(start, periods=periods, freq=freq, tz="UTC", unit="us")
    close = price + np.arange(periods, dtype="float64")
    return pd.DataFrame(
        {
            "ts": ts,
            "symbol": symbol,
            "pair": f"{symbol}-USD",
            "venue": venue,
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume_base": 10.0,
            "volume_quote": np.nan,
        }
    )


def make_macro(series: str, dates: Sequence[str], source: str = "FRED") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(list(dates), utc=True).as_unit("us"),
            "series": series,
            "source": source,
            "value": np.linspace(1.0, 2.0, len(dates)),
            "unit": "percent",
        }
    )


def make_etf(dates: Sequence[str], ticker: str = "IBIT") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(list(dates), utc=True).as_unit("us"),
            "asset": "BTC",
            "ticker": ticker,
            "net_flow_usd_m": 12.5,
        }
    )


def make_implied_vol(
    symbol: str = "BTC", start: str = "2024-01-01", periods: int = 5, level: float = 55.0
) -> pd.DataFrame:
    """Daily DVOL closes in percent a year, as in ``implied_vol/implied_vol_daily.parquet``."""
    return pd.DataFrame(
        {
            "ts": pd.date_range(start, periods=periods, freq="D", tz="UTC", unit="us"),
            "symbol": symbol,
            "venue": "deribit",
            "index": "DVOL",
            "iv_annualized_pct": level + np.arange(periods, dtype="float64"),
            "source": "test",
        }
    )


@pytest.fixture
def store(isolated_env: Path) -> Store:
    """An empty store under this test's DOWNSIDE_HOME."""
    return Store(isolated_env / "store", lock_timeout_s=5)


@pytest.fixture
def bars() -> BarsFactory:
    return make_bars


@pytest.fixture
def macro() -> Callable[..., pd.DataFrame]:
    return make_macro


@pytest.fixture
def etf() -> Callable[..., pd.DataFrame]:
    return make_etf


@pytest.fixture
def implied_vol() -> Callable[..., pd.DataFrame]:
    return make_implied_vol
