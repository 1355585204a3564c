"""Transforms: every one equals a naive loop over rows on seeded random data (oracle
tests), is causal, and derives its name from its fields (pinned)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pytest

from downside.features import (
    TRANSFORMS,
    CarryAnnualized,
    Cumulative,
    DaysSinceMaCross,
    DistanceToLow,
    FailedBreakout,
    GarmanKlassVol,
    Level,
    LogChangePerVol,
    LogReturn,
    MaCrossState,
    MeanPerVol,
    PctChange,
    PerDollarVolume,
    Spread,
    SumPerDollarVolume,
    SumRatio,
    SumTo,
    Transform,
    Window,
    ZScore,
    parse_transform,
    parse_window,
)
from downside.features._transforms import ParamValue

DAY = pd.Timedelta(days=1)
SEEDS = (1, 2, 3)


def _grid(rng: np.random.Generator, n: int = 420, gap_share: float = 0.08) -> pd.DatetimeIndex:
    days = pd.date_range("2020-01-01", periods=int(n * (1 + gap_share)), freq="D", tz="UTC")
    keep = np.sort(rng.choice(len(days), size=n, replace=False))
    return days[keep].as_unit("us")


def _walk(rng: np.random.Generator, index: pd.DatetimeIndex, scale: float = 0.03) -> pd.Series:
    return pd.Series(100 * np.exp(np.cumsum(rng.normal(0, scale, len(index)))), index=index)


def _ohlc(rng: np.random.Generator, index: pd.DatetimeIndex) -> dict[str, pd.Series]:
    close = _walk(rng, index)
    open_ = close * np.exp(rng.normal(0, 0.01, len(index)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, len(index))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, len(index))))
    volume = pd.Series(rng.lognormal(10, 1, len(index)), index=index)
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


# ---------------------------------------------------------------------------- naive helpers


def _us(delta: pd.Timedelta) -> int:
    return int(delta.value // 1000)


def _rows(ts: np.ndarray, i: int, window: Window) -> list[int]:
    """Rows in the window ending at row ``i`` (``ts``: microseconds)."""
    if window.is_time:
        rows = []
        j = i
        while j >= 0 and ts[j] > ts[i] - _us(window.delta):
            rows.append(j)
            j -= 1
        return rows[::-1]
    return list(range(max(0, i - window.count + 1), i + 1))


def _enough(count: int, window: Window, freq: pd.Timedelta, k: int = 1) -> bool:
    if window.is_time:
        return count >= max(k, int(window.delta / freq) // 2)
    return count >= max(k, window.count)


def _lag_row(ts: np.ndarray, i: int, window: Window, freq: pd.Timedelta) -> int | None:
    if not window.is_time:
        return i - window.count if i - window.count >= 0 else None
    target = ts[i] - _us(window.delta)
    j = i
    while j >= 0 and ts[j] > target:
        j -= 1
    if j < 0 or ts[j] < target - _us(freq):
        return None
    return j


def _rolled(
    x: pd.Series, window: Window, fn: Callable[[np.ndarray], float], k: int = 1
) -> np.ndarray:
    out = np.full(len(x), np.nan)
    ts, values = x.index.asi8, x.to_numpy(dtype=float)
    for i in range(len(x)):
        rows = [j for j in _rows(ts, i, window) if not np.isnan(values[j])]
        if _enough(len(rows), window, DAY, k):
            out[i] = fn(values[rows])
    return out


def _std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1))


def _step_returns(close: pd.Series) -> pd.Series:
    one = Window(24, "h")
    out = np.full(len(close), np.nan)
    for i in range(len(close)):
        j = _lag_row(close.index.asi8, i, one, DAY)
        if j is not None:
            out[i] = math.log(close.iloc[i] / close.iloc[j])
    return pd.Series(out, index=close.index)


def _run(
    name: str,
    inputs: Sequence[pd.Series],
    window: str | None,
    params: Mapping[str, ParamValue] | None = None,
) -> np.ndarray:
    fields: dict[str, ParamValue] = {"window": parse_window(window)} if window else {}
    transform = TRANSFORMS[name](**fields, **(params or {}))
    result = transform.compute(list(inputs), [DAY] * len(inputs))
    assert result.index.equals(inputs[0].index)
    assert result.dtype == np.float64
    return result.to_numpy()


def _close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert np.isfinite(expected).sum() > 0, "oracle produced no value: the test would be vacuous"


# ---------------------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("window", ["1d", "7d", "30d", "5obs"])
def test_lag_transforms_match_naive(seed: int, window: str) -> None:
    rng = np.random.default_rng(seed)
    x = _walk(rng, _grid(rng))
    win = parse_window(window)
    lagged = np.full(len(x), np.nan)
    for i in range(len(x)):
        j = _lag_row(x.index.asi8, i, win, DAY)
        if j is not None:
            lagged[i] = x.iloc[j]
    values = x.to_numpy()
    _close(_run("diff", [x], window), values - lagged)
    _close(_run("pct_change", [x], window), values / lagged - 1)
    _close(_run("log_return", [x], window), np.log(values / lagged))
    _close(_run("level", [x], None), values)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("window", ["3d", "30d", "20obs"])
def test_rolling_transforms_match_naive(seed: int, window: str) -> None:
    rng = np.random.default_rng(seed)
    index = _grid(rng)
    x = pd.Series(rng.normal(0.0001, 0.0003, len(index)), index=index)
    win = parse_window(window)
    _close(_run("mean", [x], window), _rolled(x, win, np.mean))
    _close(_run("sum", [x], window), _rolled(x, win, np.sum))
    _close(_run("cumulative", [x], window, {"settlements_per_obs": 3}), 3 * _rolled(x, win, np.sum))
    _close(
        _run("carry_annualized", [x], window, {"periods_per_year": 1095.0}),
        1095 * _rolled(x, win, np.mean),
    )
    _close(
        _run("positive_share", [x], window),
        _rolled(x, win, lambda v: float(np.mean(v > 0))),
    )
    expected_z = (x.to_numpy() - _rolled(x, win, np.mean, 2)) / _rolled(x, win, _std, 2)
    _close(_run("zscore", [x], window), expected_z)
    volume = pd.Series(rng.lognormal(5, 1, len(index)), index=index)
    logged = pd.Series(np.log1p(volume.to_numpy()), index=index)
    expected_log_z = (logged.to_numpy() - _rolled(logged, win, np.mean, 2)) / _rolled(
        logged, win, _std, 2
    )
    _close(_run("zscore", [volume], window, {"log": True}), expected_log_z)


@pytest.mark.parametrize("seed", SEEDS)
def test_negative_streak_matches_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    index = _grid(rng, 200)
    x = pd.Series(rng.normal(0, 1, len(index)), index=index)
    expected = np.zeros(len(x))
    for i in range(len(x)):
        j = i
        while j >= 0 and x.iloc[j] < 0:
            j -= 1
        expected[i] = i - j
    _close(_run("negative_streak", [x], None), expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_two_input_transforms_match_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    index = _grid(rng)
    other_index = _grid(rng)
    a = pd.Series(rng.lognormal(15, 1, len(index)), index=index)
    b = pd.Series(rng.lognormal(15, 1, len(index)), index=index)
    oi = pd.Series(rng.lognormal(20, 0.3, len(other_index)), index=other_index)
    b_other = b.reindex(other_index).fillna(1.0)
    spread_expected = np.array(
        [a.iloc[i] - b_other.get(t, np.nan) for i, t in enumerate(index)], dtype=float
    )
    _close(_run("spread", [a, b_other], None), spread_expected)
    win = parse_window("7d")
    sum_a = _rolled(a, win, np.sum)
    sum_b = _rolled(b, win, np.sum)
    _close(_run("share", [a, b], "7d"), sum_a / (sum_a + sum_b))
    total = _rolled(a + b, win, np.sum)
    den = np.array([oi.get(t, np.nan) for t in index], dtype=float)
    _close(_run("sum_to", [a, b, oi], "7d"), total / den)


@pytest.mark.parametrize("seed", SEEDS)
def test_dollar_volume_transforms_match_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    price_index = _grid(rng, 300, 0.0)
    flow_index = price_index[rng.random(len(price_index)) < 0.7]
    bars = _ohlc(rng, price_index)
    flow = pd.Series(rng.normal(0, 100, len(flow_index)), index=flow_index)
    dollars = bars["close"] * bars["volume"]
    average = pd.Series(_rolled(dollars, parse_window("30d"), np.mean), index=price_index)
    on_flow = average.reindex(flow_index).to_numpy()
    inputs = [flow, bars["close"], bars["volume"]]
    _close(
        _run("per_dollar_volume", inputs, "30d", {"scale": 1e6}),
        flow.to_numpy() * 1e6 / on_flow,
    )
    sums = _rolled(flow, parse_window("5obs"), np.sum)
    _close(
        _run(
            "sum_per_dollar_volume",
            inputs,
            "30d",
            {"scale": 1e6, "sum_window": parse_window("5obs")},
        ),
        sums * 1e6 / on_flow,
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_volatility_transforms_match_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bars = _ohlc(rng, _grid(rng))
    win = parse_window("30d")
    returns = _step_returns(bars["close"])
    _close(
        _run("realized_vol", [bars["close"]], "30d"),
        _rolled(returns, win, _std, 2) * math.sqrt(365),
    )
    hl = pd.Series(np.log(bars["high"] / bars["low"]) ** 2, index=bars["close"].index)
    _close(
        _run("parkinson_vol", [bars["high"], bars["low"]], "30d"),
        np.sqrt(_rolled(hl, win, np.mean) / (4 * math.log(2)) * 365),
    )
    gk_term = (
        0.5 * np.log(bars["high"] / bars["low"]) ** 2
        - (2 * math.log(2) - 1) * np.log(bars["close"] / bars["open"]) ** 2
    )
    gk = _rolled(pd.Series(gk_term), win, np.mean)
    _close(
        _run("garman_klass_vol", [bars[k] for k in ("open", "high", "low", "close")], "30d"),
        np.sqrt(np.clip(gk, 0, None) * 365),
    )
    lowest = _rolled(bars["low"], win, np.min)
    sigma = _rolled(returns, win, _std, 2)
    _close(
        _run("distance_to_low", [bars["close"], bars["low"]], "30d", {"vol_window": win}),
        np.log(bars["close"].to_numpy() / lowest) / sigma,
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_sum_ratio_matches_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    index = _grid(rng)
    other_index = _grid(rng)
    x = pd.Series(rng.lognormal(15, 1, len(index)), index=index)
    oi = pd.Series(rng.lognormal(20, 0.3, len(other_index)), index=other_index)
    den = np.array([oi.get(t, np.nan) for t in index], dtype=float)
    for window in ("1d", "7d"):
        expected = _rolled(x, parse_window(window), np.sum) * 100.0 / den
        _close(_run("sum_ratio", [x, oi], window, {"scale": 100.0}), expected)


def _daily_parkinson_naive(bars: Mapping[str, pd.Series], grid: pd.Index) -> np.ndarray:
    """Parkinson volatility per day over 30 days, looked up on ``grid`` by ``event_ts``."""
    hl = pd.Series(np.log(bars["high"] / bars["low"]) ** 2, index=bars["high"].index)
    sigma = np.sqrt(_rolled(hl, parse_window("30d"), np.mean) / (4 * math.log(2)))
    by_time = dict(zip(hl.index, sigma, strict=True))
    return np.array([by_time.get(t, np.nan) for t in grid], dtype=float)


@pytest.mark.parametrize("seed", SEEDS)
def test_per_vol_transforms_match_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    price_index = _grid(rng, 300, 0.05)
    x_index = _grid(rng, 300, 0.05)
    bars = _ohlc(rng, price_index)
    sigma = _daily_parkinson_naive(bars, x_index)
    vol = {"vol_window": parse_window("30d")}
    rate = pd.Series(rng.normal(1e-4, 1e-4, len(x_index)), index=x_index)
    inputs = [rate, bars["high"], bars["low"]]
    for window in ("1d", "7d"):
        expected = _rolled(rate, parse_window(window), np.mean) * 3.0 / sigma
        _close(_run("mean_per_vol", inputs, window, {**vol, "scale": 3.0}), expected)
    oi = _walk(rng, x_index, 0.05)
    ts = x_index.asi8
    for window, days in (("1d", 1.0), ("7d", 7.0), ("5obs", 5.0)):
        changes = np.full(len(oi), np.nan)
        for i in range(len(oi)):
            j = _lag_row(ts, i, parse_window(window), DAY)
            if j is not None:
                changes[i] = math.log(oi.iloc[i] / oi.iloc[j])
        _close(
            _run("log_change_per_vol", [oi, bars["high"], bars["low"]], window, vol),
            changes / (sigma * math.sqrt(days)),
        )


@pytest.mark.parametrize("seed", SEEDS)
def test_trend_transforms_match_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = _walk(rng, _grid(rng, 500), 0.04)
    values = close.to_numpy()
    for window in ("50d", "200d"):
        sma = _rolled(close, parse_window(window), np.mean)
        _close(_run("ma_distance", [close], window), values / sma - 1)
    for window in ("30d", "90d"):
        high = _rolled(close, parse_window(window), np.max)
        _close(_run("drawdown_from_high", [close], window), values / high - 1)
    params = {"fast": parse_window("20d"), "slow": parse_window("60d")}
    fast = _rolled(close, params["fast"], np.mean)
    slow = _rolled(close, params["slow"], np.mean)
    state = np.where(np.isnan(fast) | np.isnan(slow), np.nan, np.sign(fast - slow))
    _close(_run("ma_cross_state", [close], None, params), state)
    since = np.full(len(close), np.nan)
    last_cross: pd.Timestamp | None = None
    previous = np.nan
    for i in range(len(close)):
        if np.isnan(state[i]):
            continue
        if not np.isnan(previous) and state[i] != previous:
            last_cross = close.index[i]
        previous = state[i]
        if last_cross is not None:
            since[i] = (close.index[i] - last_cross) / DAY
    assert np.nanmax(since) > 0
    _close(_run("days_since_ma_cross", [close], None, params), since)


@pytest.mark.parametrize("seed", SEEDS)
def test_rsi_matches_wilder_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = _walk(rng, _grid(rng, 200))
    n = 14
    expected = np.full(len(close), np.nan)
    gain = loss = 0.0
    for i in range(1, len(close)):
        change = close.iloc[i] - close.iloc[i - 1]
        up, down = max(change, 0.0), max(-change, 0.0)
        if i == 1:
            gain, loss = up, down
        else:
            gain = (1 - 1 / n) * gain + up / n
            loss = (1 - 1 / n) * loss + down / n
        if i >= n:
            expected[i] = 100.0 if loss == 0 else 100 - 100 / (1 + gain / loss)
    _close(_run("rsi", [close], "14d"), expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_failed_breakout_matches_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bars = _ohlc(rng, _grid(rng, 300))
    high, close = bars["high"], bars["close"]
    recent_w, lookback = parse_window("5d"), parse_window("20d")
    expected = np.full(len(close), np.nan)
    rolling_high = _rolled(high, lookback, np.max)
    recent = _rolled(high, recent_w, np.max)
    for i in range(len(close)):
        j = _lag_row(close.index.asi8, i, recent_w, DAY)
        if j is None or np.isnan(rolling_high[j]) or np.isnan(recent[i]):
            continue
        prior = rolling_high[j]
        expected[i] = float(recent[i] > prior and close.iloc[i] < prior)
    actual = _run("failed_breakout", [high, close], "5d", {"lookback": lookback})
    _close(actual, expected)
    assert np.nansum(expected) > 0, "no failed breakout in the sample: pick another seed"


def test_transforms_are_causal() -> None:
    """Changing rows after t never changes any value at or before t."""
    rng = np.random.default_rng(11)
    index = _grid(rng, 300)
    bars = _ohlc(rng, index)
    cut = 200
    changed = {k: v.copy() for k, v in bars.items()}
    for key in changed:
        changed[key].iloc[cut:] = changed[key].iloc[cut:] * 1.7
    cases: list[tuple[str, list[str], str | None, dict[str, ParamValue]]] = [
        ("rsi", ["close"], "14d", {}),
        ("realized_vol", ["close"], "30d", {}),
        (
            "days_since_ma_cross",
            ["close"],
            None,
            {"fast": Window(10, "d"), "slow": Window(40, "d")},
        ),
        ("failed_breakout", ["high", "close"], "5d", {"lookback": Window(20, "d")}),
        ("zscore", ["volume"], "30d", {"log": True}),
        ("distance_to_low", ["close", "low"], "90d", {"vol_window": Window(30, "d")}),
        ("mean_per_vol", ["volume", "high", "low"], "7d", {"vol_window": Window(30, "d")}),
        ("log_change_per_vol", ["volume", "high", "low"], "7d", {"vol_window": Window(30, "d")}),
        ("sum_ratio", ["volume", "close"], "7d", {}),
    ]
    for name, roles, window, params in cases:
        before = _run(name, [bars[r] for r in roles], window, params)[:cut]
        after = _run(name, [changed[r] for r in roles], window, params)[:cut]
        np.testing.assert_array_equal(before, after, err_msg=name)


# ---------------------------------------------------------------------------- names

D7, D30 = Window(7, "d"), Window(30, "d")


@pytest.mark.parametrize(
    ("transform", "tokens", "name"),
    [
        (Level(), ["dgs2"], "dgs2"),
        (PctChange(window=D7), ["oi"], "oi_change_7d"),
        (LogReturn(window=Window(24, "h")), [""], "return_24h"),
        (Cumulative(window=D7, settlements_per_obs=3), ["funding_rate"], "funding_rate_cum_7d"),
        (CarryAnnualized(window=D7, periods_per_year=1095.0), ["f"], "f_carry_annualized_7d"),
        (ZScore(window=Window(90, "d")), ["leverage_ratio"], "leverage_ratio_zscore_90d"),
        (ZScore(window=Window(90, "d"), log=True), ["oi"], "log_oi_zscore_90d"),
        (Spread(), ["dgs10", "dgs2"], "dgs10_minus_dgs2"),
        (SumTo(window=D7), ["long_liq", "short_liq", "oi"], "long_liq_plus_short_liq_to_oi_7d"),
        (PerDollarVolume(window=D30, scale=1e6), ["oi", "", "volume"], "oi_per_dollar_volume_30d"),
        (
            SumPerDollarVolume(window=D30, sum_window=Window(5, "obs")),
            ["etf_flow_total", "", "volume"],
            "etf_flow_total_sum_5obs_per_dollar_volume_30d",
        ),
        (SumRatio(window=D7), ["long_liq", "oi"], "long_liq_sum_7d_to_oi"),
        (
            MeanPerVol(window=D7, vol_window=D30, scale=3.0),
            ["funding_rate", "", ""],
            "funding_rate_mean_7d_per_vol_30d",
        ),
        (
            LogChangePerVol(window=Window(1, "d"), vol_window=D30),
            ["oi", "", ""],
            "oi_log_change_1d_per_vol_30d",
        ),
        (GarmanKlassVol(window=D30), ["", "", "", ""], "rv_garman_klass_30d"),
        (
            MaCrossState(fast=Window(50, "d"), slow=Window(200, "d")),
            [""],
            "ma_cross_state_50d_200d",
        ),
        (DaysSinceMaCross(fast=D7, slow=D30), ["btc"], "btc_days_since_ma_cross_7d_30d"),
        (
            DistanceToLow(window=Window(90, "d"), vol_window=D30),
            ["", ""],
            "dist_low_90d_in_vol_30d",
        ),
        (
            FailedBreakout(window=Window(5, "d"), lookback=Window(20, "d")),
            ["", ""],
            "failed_breakout_20d_5d",
        ),
    ],
)
def test_names_are_derived_from_fields(transform: Transform, tokens: list[str], name: str) -> None:
    assert transform.name(tokens) == name


def test_every_transform_is_small_frozen_and_declared_by_its_fields() -> None:
    assert sorted(TRANSFORMS) == sorted(
        [
            "level", "diff", "pct_change", "log_return", "mean", "sum", "cumulative",
            "carry_annualized", "zscore", "positive_share", "negative_streak", "spread",
            "share", "sum_to", "per_dollar_volume", "sum_per_dollar_volume", "realized_vol",
            "parkinson_vol", "garman_klass_vol", "ma_distance", "ma_cross_state",
            "days_since_ma_cross", "drawdown_from_high", "distance_to_low", "rsi",
            "failed_breakout", "log_realized_variance", "downside_share", "realized_skewness",
            "realized_kurtosis", "jump_share", "sum_ratio", "mean_per_vol", "log_change_per_vol",
        ]
    )  # fmt: skip
    for key, cls in TRANSFORMS.items():
        assert cls.key == key
        placeholders = set(re.findall(r"{(\w+)}", cls.template))
        fields = {"window"} if cls.windowed() else set()
        assert placeholders <= {*cls.roles, *fields, *cls.params()}, key
        assert set(cls.roles) & placeholders, f"{key}: the name shows none of its inputs"
    transform = PctChange(window=D7)
    assert transform == PctChange(window=Window(7, "d"))
    assert transform != PctChange(window=D30)
    assert repr(transform) == "PctChange(window=Window(count=7, unit='d'))"
    with pytest.raises(AttributeError, match="cannot assign"):
        transform.window = D30  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        PctChange(D7)  # type: ignore[misc]
    with pytest.raises(ValueError, match="one token per role"):
        transform.name(["a", "b"])


def test_definition_values_map_to_transform_fields() -> None:
    built, problems = parse_transform("cumulative", "3d", {"settlements_per_obs": 3})
    assert problems == []
    assert built == Cumulative(window=Window(3, "d"), settlements_per_obs=3)
    built, problems = parse_transform("zscore", "90d", {})
    assert built == ZScore(window=Window(90, "d"), log=False)
    built, problems = parse_transform(
        "per_dollar_volume", "30obs", {"scale": 0, "colour": 1, "sum_window": "5obs"}
    )
    assert built is None
    assert {(key, rule) for key, rule, _ in problems} == {
        ("params", "bad_param"),
        ("params", "unknown_param"),
    }
    _, problems = parse_transform("ma_cross_state", "5d", {"fast": "50d"})
    assert [rule for _, rule, _ in problems] == ["unexpected_window", "missing_param"]
    _, problems = parse_transform("nope", None, {})
    assert [rule for _, rule, _ in problems] == ["unknown_transform"]
    assert Cumulative.params()["settlements_per_obs"].minimum == 1
    assert ZScore.params()["log"].default is False
