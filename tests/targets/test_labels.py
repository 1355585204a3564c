"""First-passage labels against a naive loop, coverage rules and input checks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest

from downside.errors import ConfigError, SchemaError
from downside.targets import (
    DEFAULT_HORIZONS_DAYS,
    DEFAULT_THRESHOLDS,
    BreakRule,
    drawdown_labels,
    support_break_labels,
)

PriceFactory = Callable[..., pd.DataFrame]


def _window(
    prices: pd.DataFrame, symbol: str, asof: pd.Timestamp, horizon: float, bar: pd.Timedelta
) -> pd.DataFrame | None:
    """Bars of the window, or None when a bar of (asof, asof + H] is missing."""
    bars = prices[prices["symbol"] == symbol].set_index("event_ts")
    n = round(pd.Timedelta(days=horizon) / bar)
    starts = [asof + i * bar for i in range(n)]
    if asof.floor(bar) != asof or any(s not in bars.index for s in starts):
        return None
    return bars.loc[starts]


def _ref_close(prices: pd.DataFrame, symbol: str, asof: pd.Timestamp) -> float:
    bars = prices[(prices["symbol"] == symbol) & (prices["available_ts"] <= asof)]
    return float(bars.sort_values("event_ts")["close"].iloc[-1]) if len(bars) else np.nan


def _naive_drawdown(
    prices: pd.DataFrame,
    spine: pd.DataFrame,
    thresholds: Sequence[float],
    horizons: Sequence[float],
    bar: pd.Timedelta,
) -> np.ndarray:
    out = []
    for symbol, asof in spine.sort_values(["symbol", "asof"]).itertuples(index=False):
        ref = _ref_close(prices, symbol, asof)
        for threshold in thresholds:
            for horizon in horizons:
                window = _window(prices, symbol, asof, horizon, bar)
                if window is None or np.isnan(ref):
                    out.append(np.nan)
                    continue
                lows = [
                    lo if not np.isnan(lo) else c
                    for lo, c in zip(window["low"], window["close"], strict=True)
                ]
                out.append(1.0 if min(lows) <= ref * (1 - threshold) else 0.0)
    return np.array(out)


def _naive_break(
    prices: pd.DataFrame,
    rows: pd.DataFrame,
    horizons: Sequence[float],
    rule: BreakRule,
    bar: pd.Timedelta,
) -> np.ndarray:
    out = []
    for symbol, asof, level in rows.sort_values(["symbol", "asof", "level"]).itertuples(
        index=False
    ):
        for horizon in horizons:
            window = _window(prices, symbol, asof, horizon, bar)
            if window is None:
                out.append(np.nan)
                continue
            if rule.kind == "close":
                values = list(window["close"])
            else:
                values = [
                    lo if not np.isnan(lo) else c
                    for lo, c in zip(window["low"], window["close"], strict=True)
                ]
            out.append(1.0 if min(values) < level * (1 - rule.buffer) else 0.0)
    return np.array(out)


def _spine(prices: pd.DataFrame, every: int, extra: list[pd.Timestamp]) -> pd.DataFrame:
    rows = []
    for symbol, group in prices.groupby("symbol"):
        stamps = list(group["event_ts"].iloc[::every]) + extra
        rows += [(symbol, s) for s in dict.fromkeys(stamps)]
    return pd.DataFrame(rows, columns=["symbol", "asof"])


def test_drawdown_labels_match_naive_loop_daily(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=120, drop=2, seed=1)
    last = prices["event_ts"].max()
    spine = _spine(
        prices, 3, [last, last + pd.Timedelta(days=1), pd.Timestamp("2020-12-20", tz="UTC")]
    )
    thresholds, horizons = (0.02, 0.05, 0.1), (1.0, 3.0, 7.0)
    got = drawdown_labels(prices, spine, thresholds, horizons)
    want = _naive_drawdown(prices, spine, thresholds, horizons, pd.Timedelta(days=1))
    np.testing.assert_array_equal(got["label"].to_numpy(), want)
    assert got["label"].notna().sum() > 100
    assert set(got["label"].dropna()) == {0.0, 1.0}
    assert list(got.columns) == [
        "symbol",
        "asof",
        "threshold",
        "horizon_days",
        "ref_close",
        "label",
        "label_end",
    ]


def test_drawdown_labels_match_naive_loop_hourly(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=200, freq="1h", drop=3, seed=2, vol=0.01)
    spine = _spine(prices, 5, [pd.Timestamp("2021-01-03 10:30", tz="UTC")])
    thresholds, horizons = (0.01, 0.02), (1 / 24, 0.25, 1.0)
    got = drawdown_labels(prices, spine, thresholds, horizons, freq="1h")
    want = _naive_drawdown(prices, spine, thresholds, horizons, pd.Timedelta(hours=1))
    np.testing.assert_array_equal(got["label"].to_numpy(), want)
    one_hour = got[got["horizon_days"] == 1 / 24]
    assert ((one_hour["label_end"] - one_hour["asof"]) == pd.Timedelta(hours=1)).all()
    assert got["label"].notna().sum() > 50


@pytest.mark.parametrize(
    ("kind", "buffer", "freq"),
    [("close", 0.0, "1d"), ("low", 0.0, "1d"), ("close", 0.01, "1d"), ("low", 0.02, "1h")],
)
def test_support_break_labels_match_naive_loop(
    prices_factory: PriceFactory, kind: str, buffer: float, freq: str
) -> None:
    prices = prices_factory(n=100, freq=freq, drop=2, seed=3, vol=0.02)
    rng = np.random.default_rng(4)
    spine = _spine(prices, 4, [])
    ref = {(s, a): _ref_close(prices, s, a) for s, a in spine.itertuples(index=False)}
    rows = pd.DataFrame(
        [
            (s, a, (ref[(s, a)] if not np.isnan(ref[(s, a)]) else 100.0) * f)
            for s, a in spine.itertuples(index=False)
            for f in rng.uniform(0.9, 1.0, 2)
        ],
        columns=["symbol", "asof", "level"],
    )
    rule = BreakRule(kind=kind, buffer=buffer)  # type: ignore[arg-type]
    horizons = (1.0, 3.0) if freq == "1d" else (1 / 24, 0.5)
    got = support_break_labels(prices, rows, horizons, rule, freq=freq)  # type: ignore[arg-type]
    bar = pd.Timedelta(days=1) if freq == "1d" else pd.Timedelta(hours=1)
    want = _naive_break(prices, rows, horizons, rule, bar)
    np.testing.assert_array_equal(got["label"].to_numpy(), want)
    assert set(got["label"].dropna()) == {0.0, 1.0}
    assert list(got.columns) == ["symbol", "asof", "level", "horizon_days", "label", "label_end"]


def test_incomplete_windows_are_nan(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC",), n=60)
    last = prices["event_ts"].max()
    spine = pd.DataFrame(
        {"symbol": "BTC", "asof": [last - pd.Timedelta(days=d) for d in range(10)]}
    )
    got = drawdown_labels(prices, spine, (0.05,), (1.0, 7.0))
    end_of_data = last + pd.Timedelta(days=1)
    known = got["label"].notna()
    assert (known == (got["label_end"] <= end_of_data)).all()
    assert known.sum() == 10 + 4


def test_missing_bar_inside_window_gives_nan(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC",), n=40)
    gap = pd.Timestamp("2021-01-20", tz="UTC")
    prices = prices[prices["event_ts"] != gap]
    spine = pd.DataFrame(
        {"symbol": "BTC", "asof": pd.to_datetime(["2021-01-15", "2021-01-21"], utc=True)}
    )
    got = drawdown_labels(prices, spine, (0.5,), (3.0, 7.0))
    assert got["label"].isna().tolist() == [False, True, False, False]


def test_misaligned_asof_gives_nan(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC",), n=40)
    spine = pd.DataFrame({"symbol": "BTC", "asof": pd.to_datetime(["2021-01-10 12:00"], utc=True)})
    got = drawdown_labels(prices, spine, (0.05,), (1.0,))
    assert got["label"].isna().all()
    assert got["ref_close"].notna().all()


def test_labels_are_monotone_in_threshold_and_horizon(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=200, seed=5)
    spine = _spine(prices, 1, [])
    got = drawdown_labels(prices, spine)
    cube = (
        got["label"]
        .to_numpy()
        .reshape(len(spine), len(DEFAULT_THRESHOLDS), len(DEFAULT_HORIZONS_DAYS))
    )
    assert not (np.diff(cube, axis=1) > 0).any()
    assert not (np.diff(cube, axis=2) < 0).any()
    assert np.isfinite(cube).mean() > 0.8


def test_default_grid_is_fast(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC", "ETH", "SOL"), n=3000, nan_low=0.0)
    spine = prices[["symbol", "event_ts"]].rename(columns={"event_ts": "asof"})
    began = time.perf_counter()
    got = drawdown_labels(prices, spine)
    elapsed = time.perf_counter() - began
    assert len(got) == 3 * 3000 * 25
    assert elapsed < 3.0, f"labelling 225,000 cells took {elapsed:.2f} s"


def test_bad_grids_raise_config_error(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=20)
    spine = pd.DataFrame({"symbol": ["BTC"], "asof": pd.to_datetime(["2021-01-05"], utc=True)})
    with pytest.raises(ConfigError, match=r"thresholds .*bad: \[5\.0\]"):
        drawdown_labels(prices, spine, (0.05, 5.0), (1.0,))
    with pytest.raises(ConfigError, match=r"horizons_days .*whole numbers of bars.*bad: \[1\.5\]"):
        drawdown_labels(prices, spine, (0.05,), (1.0, 1.5))
    with pytest.raises(ConfigError, match="unknown bar frequency '1w'"):
        drawdown_labels(prices, spine, (0.05,), (7.0,), freq="1w")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"BreakRule: kind='wick'.*buffer=-0\.1"):
        BreakRule(kind="wick", buffer=-0.1)  # type: ignore[arg-type]


def test_bad_inputs_raise_schema_error_listing_all(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=20)
    naive = pd.DataFrame({"symbol": ["BTC"], "asof": pd.to_datetime(["2021-01-05"])})
    with pytest.raises(SchemaError, match=r"not_utc_timestamps.*'asof'"):
        drawdown_labels(prices, naive)
    unknown = pd.DataFrame(
        {"symbol": ["DOGE", "BTC", "BTC"], "asof": pd.to_datetime(["2021-01-05"] * 3, utc=True)}
    )
    with pytest.raises(SchemaError, match=r"(?s)2 problem.*duplicate_keys.*unknown_symbols.*DOGE"):
        drawdown_labels(prices, unknown)
    with pytest.raises(
        SchemaError, match=r"bar_length.*available_ts - event_ts must equal one bar \(1h\)"
    ):
        drawdown_labels(prices, naive.assign(asof=naive["asof"].dt.tz_localize("UTC")), freq="1h")
    broken = prices.copy()
    broken.loc[3, "close"] = np.nan
    broken = pd.concat([broken, broken.iloc[[5]]])
    with pytest.raises(SchemaError, match=r"(?s)bad_close.*duplicate_bars"):
        support_break_labels(
            broken, naive.assign(asof=naive["asof"].dt.tz_localize("UTC"), level=90.0)
        )
