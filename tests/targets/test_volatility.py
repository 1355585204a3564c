"""Causal volatility and the reference price."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from downside.errors import ConfigError
from downside.targets import reference, volatility

PriceFactory = Callable[..., pd.DataFrame]


def _naive_ewma(values: list[float], lam: float, min_bars: int) -> list[float]:
    """Normalised EWMA of the non-NaN values seen so far (weights by bar position)."""
    out = []
    for t in range(len(values)):
        num = den = 0.0
        seen = 0
        for s in range(t + 1):
            if not math.isnan(values[s]):
                num += lam ** (t - s) * values[s]
                den += lam ** (t - s)
                seen += 1
        out.append(num / den if seen >= min_bars else math.nan)
    return out


def test_volatility_matches_naive_ewma(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC",), n=80, nan_low=0.2)
    got = volatility(prices, lam=0.9, min_bars=5)
    close = prices["close"].tolist()
    squared = [math.nan] + [math.log(b / a) ** 2 for a, b in itertools.pairwise(close)]
    ranges = [
        math.log(h / lo) ** 2 / (4 * math.log(2)) if not math.isnan(lo) else math.nan
        for h, lo in zip(prices["high"], prices["low"], strict=True)
    ]
    np.testing.assert_allclose(
        got["sigma_ewma"], np.sqrt(_naive_ewma(squared, 0.9, 5)), rtol=1e-12, equal_nan=True
    )
    np.testing.assert_allclose(
        got["sigma_parkinson"], np.sqrt(_naive_ewma(ranges, 0.9, 5)), rtol=1e-12, equal_nan=True
    )
    assert got["sigma_ewma"].iloc[:5].isna().all()
    assert got["sigma_ewma"].iloc[5:].notna().all()
    assert list(got.columns) == [
        "symbol",
        "event_ts",
        "available_ts",
        "sigma_ewma",
        "sigma_parkinson",
    ]


def test_hourly_volatility_is_scaled_to_one_day(prices_factory: PriceFactory) -> None:
    hourly = prices_factory(symbols=("BTC",), n=100, freq="1h")
    days = pd.date_range("2021-01-01", periods=len(hourly), freq="D", tz="UTC", unit="us")
    daily = hourly.assign(event_ts=days, available_ts=days + pd.Timedelta(days=1))
    per_hour = volatility(hourly)["sigma_ewma"].to_numpy()
    per_day = volatility(daily)["sigma_ewma"].to_numpy()
    np.testing.assert_allclose(per_hour, per_day * math.sqrt(24), rtol=1e-12)


def test_missing_bar_spreads_the_return_over_its_bars(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC",), n=40)
    gapped = prices.drop(index=[20])
    got = volatility(gapped, lam=0.5, min_bars=1)
    close = prices["close"].to_numpy()
    two_bar = math.log(close[21] / close[19]) ** 2 / 2
    prev = got["sigma_ewma"].iloc[19] ** 2
    weights = sum(0.5**i for i in range(20))
    expected = (two_bar + prev * (weights - 1)) / weights
    assert got["sigma_ewma"].iloc[20] ** 2 == pytest.approx(expected, rel=1e-12)


def test_volatility_and_reference_are_causal(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=200, seed=7)
    spine = prices[["symbol", "event_ts"]].rename(columns={"event_ts": "asof"}).iloc[::7]
    full_vol = volatility(prices)
    full_ref = reference(prices, spine)
    for cut in pd.to_datetime(["2021-03-01", "2021-05-17"], utc=True):
        past = prices[prices["available_ts"] <= cut]
        vol = volatility(past)
        pd.testing.assert_frame_equal(
            vol, full_vol[full_vol["available_ts"] <= cut].reset_index(drop=True)
        )
        ref = reference(past, spine[spine["asof"] <= cut])
        want = full_ref[full_ref["asof"] <= cut].reset_index(drop=True)
        pd.testing.assert_frame_equal(ref, want)


def test_reference_is_the_last_close_known_at_asof(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC",), n=50)
    spine = pd.DataFrame(
        {
            "symbol": "BTC",
            "asof": pd.to_datetime(
                ["2020-12-31", "2021-01-10", "2021-01-10 13:00"], utc=True, format="ISO8601"
            ),
        }
    )
    got = reference(prices, spine)
    day9 = prices.loc[prices["event_ts"] == pd.Timestamp("2021-01-09", tz="UTC"), "close"].item()
    assert math.isnan(got["ref_close"].iloc[0])
    assert got["ref_ts"].isna().iloc[0]
    assert got["ref_close"].iloc[1:].tolist() == [day9, day9]
    assert (got["ref_ts"].iloc[1:] == pd.Timestamp("2021-01-10", tz="UTC")).all()
    assert str(got["asof"].dtype) == "datetime64[us, UTC]"
    assert list(got.columns) == [
        "symbol",
        "asof",
        "ref_close",
        "ref_ts",
        "sigma_ewma",
        "sigma_parkinson",
    ]


def test_bad_lambda_raises(prices_factory: PriceFactory) -> None:
    with pytest.raises(ConfigError, match=r"lam=1\.2.*0 < lam < 1"):
        volatility(prices_factory(n=10), lam=1.2)
