"""Joint surface score, Murphy decomposition, early-warning episodes: oracles on small
hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from downside.workflows._scoring import (
    drawdown_episodes,
    early_warning,
    joint_losses,
    joint_table,
    murphy,
)


def _rows(days: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    asof = pd.date_range("2024-01-01", periods=days, freq="D", tz="UTC")
    frame = pd.DataFrame(
        [
            (s, a, x, h)
            for a in asof
            for s in ("BTC", "ETH")
            for x in (0.05, 0.1, 0.2)
            for h in (1.0, 7.0)
        ],
        columns=["symbol", "asof", "threshold", "horizon_days"],
    )
    truth = np.clip(0.4 - frame["threshold"] + 0.02 * frame["horizon_days"], 0.01, 0.99)
    frame["label"] = (rng.random(len(frame)) < truth).astype(float)
    frame["good"] = truth
    frame["flat"] = frame["label"].mean()
    return frame


def test_joint_loss_is_the_mean_brier_over_thresholds() -> None:
    frame = _rows()
    losses = joint_losses(frame, ["good", "flat"])
    key = losses.iloc[7]
    part = frame[
        (frame["symbol"] == key["symbol"])
        & (frame["asof"] == key["asof"])
        & (frame["horizon_days"] == key["horizon_days"])
    ]
    assert key["n"] == 3
    assert key["good"] == pytest.approx(np.mean((part["good"] - part["label"]) ** 2))
    assert len(losses) == 60 * 2 * 2


def test_skill_of_the_true_probability_over_a_constant_is_positive() -> None:
    losses = joint_losses(_rows(days=200), ["good", "flat"])
    table = joint_table(losses, ["good", "flat"], "flat", n_boot=200, level=0.9, seed=1)
    overall = table[(table["scope"] == "overall") & (table["model"] == "good")].iloc[0]
    assert overall["skill"] > 0
    assert overall["skill_lower"] > 0
    assert overall["skill_lower"] <= overall["skill"] <= overall["skill_upper"]
    same = table[(table["scope"] == "overall") & (table["model"] == "flat")].iloc[0]
    assert same["skill"] == 0.0


def test_murphy_decomposition_adds_up_and_is_zero_miscalibration_when_recalibrated() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(5000)
    y = (rng.random(5000) < p**2).astype(float)
    parts = murphy(p, y)
    assert parts["brier"] == pytest.approx(
        parts["miscalibration"] - parts["discrimination"] + parts["uncertainty"]
    )
    assert parts["miscalibration"] > 0.01  # p is too high: p^2 is the truth
    calibrated = murphy(p**2, y)
    assert calibrated["miscalibration"] < parts["miscalibration"]


def test_episodes_are_one_per_selloff_and_warning_compares_means() -> None:
    days = pd.date_range("2023-01-01", periods=120, freq="D", tz="UTC")
    close = np.full(120, 100.0)
    close[40:] = 80.0  # a 20% fall on day 40, lasting: one episode, not one per day
    close[90:] = 100.0
    close[100:] = 82.0  # a second sell-off
    prices = pd.DataFrame({"symbol": "BTC", "event_ts": days, "close": close, "low": close * 0.999})
    episodes = drawdown_episodes(prices, days[0], days[-1])
    assert list(episodes["day"]) == [days[40], days[100]]
    cell = pd.DataFrame({"symbol": "BTC", "asof": days, "threshold": 0.15, "horizon_days": 14.0})
    cell["model"] = 0.1
    cell["base"] = 0.1
    before = (cell["asof"] > days[26]) & (cell["asof"] <= days[40])
    cell.loc[before, "model"] = 0.3
    table, summary = early_warning(cell, episodes, "model", "base", n_boot=100, level=0.9, seed=0)
    assert table.loc[0, "n_asof"] == 14
    assert table.loc[0, "model"] == pytest.approx(0.3)
    assert summary["episodes"] == 2
    assert summary["lift"] == pytest.approx((0.3 + 0.1) / 2 / 0.1)
