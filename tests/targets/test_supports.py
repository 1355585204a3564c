"""Support detection uses only the past; level features; user levels."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from downside.errors import ConfigError, PredictionInputError
from downside.targets import (
    LEVEL_COLUMNS,
    SupportConfig,
    detect_supports,
    level_features,
    reference,
    round_step,
)

PriceFactory = Callable[..., pd.DataFrame]


def _bars(closes: list[float], lows: list[float] | None = None) -> pd.DataFrame:
    event = pd.date_range("2022-01-01", periods=len(closes), freq="D", tz="UTC", unit="us")
    close = np.asarray(closes, dtype="float64")
    low = close * 0.999 if lows is None else np.asarray(lows, dtype="float64")
    return pd.DataFrame(
        {
            "symbol": "BTC",
            "event_ts": event,
            "available_ts": event + pd.Timedelta(days=1),
            "open": close,
            "high": close * 1.001,
            "low": low,
            "close": close,
            "volume_base": 1.0,
        }
    )


def _asof(prices: pd.DataFrame, bar: int) -> pd.DataFrame:
    """Spine row at the moment bar ``bar`` (0-based) closes."""
    return pd.DataFrame({"symbol": ["BTC"], "asof": [prices["available_ts"].iloc[bar]]})


def test_pivot_is_visible_only_once_its_right_bars_are_known() -> None:
    closes = [120, 118, 116, 114, 112, 110, 100, 104, 106, 108, 109, 111]
    prices = _bars(closes)
    pivot_low = prices["low"].iloc[6]
    config = SupportConfig(detectors=("swing_low",), swing_bars=3)
    before = detect_supports(prices, _asof(prices, 8), config)
    after = detect_supports(prices, _asof(prices, 9), config)
    assert before.empty
    assert after["level"].tolist() == [pivot_low]
    assert after["level_type"].tolist() == ["swing_low"]
    assert after["touches"].tolist() == [1]
    assert after["age_days"].tolist() == [4.0]


def test_broken_swing_low_is_dropped() -> None:
    closes = [120, 118, 116, 114, 112, 110, 100, 104, 106, 108, 109, 99, 103, 105]
    prices = _bars(closes)
    config = SupportConfig(detectors=("swing_low",), swing_bars=3)
    got = detect_supports(prices, _asof(prices, 13), config)
    assert prices["low"].iloc[6] not in got["level"].tolist()


def test_nearby_candidates_merge_into_the_strongest_type() -> None:
    closes = [120.0, 115.0, 110.0, 104.0, 99.8 / 0.999, 102.0, 105.0, 108.0]
    prices = _bars(closes)
    config = SupportConfig(detectors=("low", "round"), low_windows_days=(5.0,))
    got = detect_supports(prices, _asof(prices, 7), config)
    assert got["level"].tolist() == pytest.approx([99.8, 90.0, 80.0])
    assert got["level_type"].tolist() == ["low_5d", "round", "round"]


def test_detection_ignores_the_future(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC", "ETH"), n=420, seed=11)
    cuts = pd.to_datetime(["2021-09-01", "2021-12-15", "2022-02-20"], utc=True)
    spine = pd.DataFrame([(s, c) for s in ("BTC", "ETH") for c in cuts], columns=["symbol", "asof"])
    full = detect_supports(prices, spine)
    for cut in cuts:
        past = prices[prices["available_ts"] <= cut]
        alone = detect_supports(past, spine[spine["asof"] == cut])
        want = full[full["asof"] == cut].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, want)
        assert len(alone) > 4


def test_detected_levels_lie_below_price_with_documented_features(
    prices_factory: PriceFactory,
) -> None:
    prices = prices_factory(symbols=("BTC", "ETH"), n=400, seed=12, nan_low=0.0)
    spine = prices[["symbol", "event_ts"]].rename(columns={"event_ts": "asof"}).iloc[::5]
    config = SupportConfig(max_levels=6)
    got = detect_supports(prices, spine, config)
    assert tuple(got.columns) == LEVEL_COLUMNS
    assert (got["level"] < got["ref_close"]).all()
    assert (got["distance_pct"] > 0).all()
    assert got.groupby(["symbol", "asof"]).size().max() == 6
    ref = reference(prices, spine)
    joined = got.merge(ref, on=["symbol", "asof"], suffixes=("", "_ref"))
    np.testing.assert_allclose(joined["ref_close"], joined["ref_close_ref"])
    np.testing.assert_allclose(
        joined["distance_vol"], np.log(joined["ref_close"] / joined["level"]) / joined["sigma_ewma"]
    )
    assert list(got["level_type"].cat.categories) == list(config.level_types())
    assert set(got["level_type"]) >= {"swing_low", "round", "volume_node"}
    assert ((got["touches"] == 0) == got["age_days"].isna()).all()
    first = got.groupby(["symbol", "asof"])["level"].apply(lambda s: s.is_monotonic_decreasing)
    assert first.all()


def test_level_features_match_detected_levels(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC",), n=300, seed=13)
    spine = pd.DataFrame(
        {"symbol": "BTC", "asof": pd.to_datetime(["2021-08-01", "2021-10-01"], utc=True)}
    )
    detected = detect_supports(prices, spine)
    user = level_features(prices, detected[["symbol", "asof", "level"]])
    assert (user["level_type"] == "user").all()
    columns = [
        "symbol",
        "asof",
        "level",
        "ref_close",
        "distance_pct",
        "distance_vol",
        "touches",
        "age_days",
    ]
    pd.testing.assert_frame_equal(user[columns], detected[columns])


def test_touches_and_age_count_bars_near_the_level() -> None:
    closes = [110.0] * 10
    lows = [105.0, 100.2, 108.0, 99.7, 108.0, 100.0, 108.0, 108.0, 95.0, 108.0]
    prices = _bars(closes, lows)
    rows = pd.DataFrame(
        {"symbol": ["BTC"], "asof": [prices["available_ts"].iloc[9]], "level": [100.0]}
    )
    got = level_features(prices, rows, config=SupportConfig(touch_tolerance=0.005))
    assert got["touches"].tolist() == [3]
    assert got["age_days"].tolist() == [9.0]
    assert got["distance_pct"].tolist() == pytest.approx([1 / 11])


def test_user_level_at_or_above_price_raises(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC",), n=60)
    asof = pd.Timestamp("2021-02-01", tz="UTC")
    price = prices.loc[prices["available_ts"] == asof, "close"].item()
    rows = pd.DataFrame(
        {"symbol": "BTC", "asof": [asof, asof, asof], "level": [price * 1.1, price, price * 0.9]}
    )
    with pytest.raises(
        PredictionInputError, match=rf"2 support level.*not below the current price {price:g}"
    ):
        level_features(prices, rows)
    early = pd.DataFrame(
        {"symbol": ["BTC"], "asof": [pd.Timestamp("2020-06-01", tz="UTC")], "level": [1.0]}
    )
    with pytest.raises(PredictionInputError, match="no price is known yet"):
        level_features(prices, early)


def test_round_step_follows_the_price_magnitude() -> None:
    assert round_step(97_000) == 5_000
    assert round_step(101_000) == 10_000
    assert round_step(3_700) == 250
    assert round_step(15_000) == 1_000
    assert round_step(0.52) == pytest.approx(0.05)


def test_bad_support_config_lists_every_problem() -> None:
    with pytest.raises(
        ConfigError, match=r"detectors=\('wick',\).*swing_bars=0.*merge_tolerance=0\.7"
    ):
        SupportConfig(detectors=("wick",), swing_bars=0, merge_tolerance=0.7)  # type: ignore[arg-type]


def test_detection_is_fast(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC", "ETH", "SOL"), n=1800, seed=14)
    spine = prices[["symbol", "event_ts"]].rename(columns={"event_ts": "asof"})
    spine = spine[spine["asof"] >= pd.Timestamp("2021-10-01", tz="UTC")]
    began = time.perf_counter()
    got = detect_supports(prices, spine)
    elapsed = time.perf_counter() - began
    assert got[["symbol", "asof"]].drop_duplicates().shape[0] == len(spine)
    assert elapsed < 8.0, f"detecting supports at {len(spine)} as-of times took {elapsed:.2f} s"
