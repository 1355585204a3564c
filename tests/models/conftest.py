"""Synthetic stacked frames with a planted signal, following the datasets contract.

The true probability of every row is a logistic link of the GBM first-passage
probability and of the leverage feature::

    logit(p) = logit(2 * Phi(z_distance)) + LEVERAGE_EFFECT * leverage.oi_change_7d

so the event gets likelier as the barrier gets closer in volatility units and as
leverage rises; the other families are pure noise. Labels are drawn independently per
row from ``p`` (kept as ``p_true`` for oracle checks; it is not a model input).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from scipy.stats import norm

FEATURES = (
    "leverage.oi_change_7d",
    "funding.rate_8h_mean_7d",
    "etf_flows.net_flow_usd_5d",
    "rates.dgs10_change_20d",
    "technical.rv_cc_30d",
)
LEVERAGE_EFFECT = 1.0
THRESHOLDS = (0.05, 0.10, 0.15, 0.20, 0.30)
HORIZONS = (3, 7, 14, 30)


def _daily(n_dates: int, symbols: Sequence[str], rng: np.random.Generator) -> pd.DataFrame:
    asof = pd.date_range("2021-01-01", periods=n_dates, freq="D", tz="UTC", unit="us")
    base = pd.DataFrame(
        {
            "symbol": np.repeat(list(symbols), n_dates),
            "asof": np.tile(asof, len(symbols)),
        }
    )
    n = len(base)
    base["sigma_daily"] = np.exp(rng.normal(np.log(0.03), 0.3, n))
    for name in FEATURES:
        base[name] = rng.normal(0.0, 1.0, n)
    return base


def _true_probability(z: np.ndarray, leverage: np.ndarray) -> np.ndarray:
    p_gbm = np.clip(2.0 * norm.cdf(z), 1e-4, 1.0 - 1e-4)
    return np.asarray(expit(logit(p_gbm) + LEVERAGE_EFFECT * leverage))


def make_drawdown_frame(
    n_dates: int = 300,
    *,
    symbols: Sequence[str] = ("BTC", "ETH"),
    thresholds: Sequence[float] = THRESHOLDS,
    horizons: Sequence[int] = HORIZONS,
    seed: int = 0,
) -> pd.DataFrame:
    """Drawdown frame: ``symbol, asof, threshold, horizon_days, z_distance, sigma_daily,
    <features>, label, label_end`` plus ``p_true``, sorted by asof."""
    rng = np.random.default_rng(seed)
    base = _daily(n_dates, symbols, rng)
    grid = pd.MultiIndex.from_product([thresholds, horizons], names=["threshold", "horizon_days"])
    frame = base.merge(grid.to_frame(index=False), how="cross")
    frame["horizon_days"] = frame["horizon_days"].astype(np.int64)
    frame["z_distance"] = np.log1p(-frame["threshold"]) / (
        frame["sigma_daily"] * np.sqrt(frame["horizon_days"])
    )
    frame["p_true"] = _true_probability(
        frame["z_distance"].to_numpy(), frame["leverage.oi_change_7d"].to_numpy()
    )
    frame["label"] = (rng.random(len(frame)) < frame["p_true"]).astype(np.float64)
    frame["label_end"] = frame["asof"] + pd.to_timedelta(frame["horizon_days"], unit="D")
    columns = ["symbol", "asof", "threshold", "horizon_days", "z_distance", "sigma_daily"]
    frame = frame[[*columns, *FEATURES, "label", "label_end", "p_true"]]
    return frame.sort_values(["asof", "symbol"], kind="stable").reset_index(drop=True)


def make_support_frame(
    n_dates: int = 250,
    *,
    symbols: Sequence[str] = ("BTC", "ETH"),
    distances: Sequence[float] = (0.03, 0.06, 0.10, 0.15),
    horizons: Sequence[int] = HORIZONS,
    seed: int = 1,
) -> pd.DataFrame:
    """Support frame per the datasets contract (``level_type`` is a category)."""
    rng = np.random.default_rng(seed)
    base = _daily(n_dates, symbols, rng)
    base["ref_close"] = np.exp(rng.normal(10.0, 0.2, len(base)))
    grid = pd.MultiIndex.from_product([distances, horizons], names=["distance_pct", "horizon_days"])
    frame = base.merge(grid.to_frame(index=False), how="cross")
    frame["horizon_days"] = frame["horizon_days"].astype(np.int64)
    frame["level"] = frame["ref_close"] * (1.0 - frame["distance_pct"])
    frame["level_type"] = pd.Categorical(
        rng.choice(["swing_low", "round_number"], len(frame)),
        categories=["round_number", "swing_low"],
    )
    frame["distance_vol"] = -np.log1p(-frame["distance_pct"]) / frame["sigma_daily"]
    frame["z_distance"] = np.log(frame["level"] / frame["ref_close"]) / (
        frame["sigma_daily"] * np.sqrt(frame["horizon_days"])
    )
    frame["touches"] = rng.integers(1, 6, len(frame)).astype(np.int64)
    frame["age_days"] = rng.integers(5, 200, len(frame)).astype(np.int64)
    frame["p_true"] = _true_probability(
        frame["z_distance"].to_numpy(), frame["leverage.oi_change_7d"].to_numpy()
    )
    frame["label"] = (rng.random(len(frame)) < frame["p_true"]).astype(np.float64)
    frame["label_end"] = frame["asof"] + pd.to_timedelta(frame["horizon_days"], unit="D")
    columns = [
        "symbol",
        "asof",
        "level",
        "level_type",
        "horizon_days",
        "ref_close",
        "distance_pct",
        "distance_vol",
        "z_distance",
        "touches",
        "age_days",
        "sigma_daily",
    ]
    frame = frame[[*columns, *FEATURES, "label", "label_end", "p_true"]]
    return frame.sort_values(["asof", "symbol"], kind="stable").reset_index(drop=True)


DRAWDOWN_INPUTS = ["threshold", "horizon_days", "z_distance", "sigma_daily", *FEATURES]
SUPPORT_INPUTS = [
    "horizon_days",
    "distance_pct",
    "distance_vol",
    "z_distance",
    "touches",
    "age_days",
    "level_type",
    "sigma_daily",
    *FEATURES,
]
FAST = {"n_estimators": 60, "learning_rate": 0.1, "min_child_samples": 50, "random_state": 0}
"""Small, fast LightGBM settings for tests (n_jobs defaults to one thread)."""


@pytest.fixture(scope="session")
def drawdown_frame() -> pd.DataFrame:
    return make_drawdown_frame()


@pytest.fixture(scope="session")
def support_frame() -> pd.DataFrame:
    return make_support_frame()


class Synthetic:
    """The generators and column lists above, for test modules (importlib import mode
    keeps test modules from importing this conftest directly)."""

    FEATURES = FEATURES
    DRAWDOWN_INPUTS = DRAWDOWN_INPUTS
    SUPPORT_INPUTS = SUPPORT_INPUTS
    FAST = FAST
    LEVERAGE_EFFECT = LEVERAGE_EFFECT
    make_drawdown_frame = staticmethod(make_drawdown_frame)
    make_support_frame = staticmethod(make_support_frame)


@pytest.fixture(scope="session")
def synth() -> type[Synthetic]:
    return Synthetic
