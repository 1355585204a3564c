"""Baselines: closed forms against Monte Carlo, causal climatology, volatility-only logistic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from downside.errors import ModelInputError, NotFittedError, PredictionInputError
from downside.models import Climatology, GBMFirstPassage, VolLogistic, first_passage_probability


def _monte_carlo(
    sigma: float,
    horizon: float,
    barrier: float,
    dt: float,
    drift: float,
    seed: int,
    n_paths: int = 100_000,
) -> tuple[float, float]:
    """Share of log-price paths, observed every ``dt`` days, at or below ``barrier``."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n_paths)
    hit = np.zeros(n_paths, dtype=bool)
    for _ in range(round(horizon / dt)):
        x += drift * dt + sigma * np.sqrt(dt) * rng.standard_normal(n_paths)
        hit |= x <= barrier
    p = float(hit.mean())
    return p, float(np.sqrt(p * (1 - p) / n_paths))


HOURLY = 1.0 / 24.0


@pytest.mark.parametrize(
    ("sigma", "horizon", "threshold", "drift"),
    [(0.04, 10, 0.10, 0.0), (0.03, 3, 0.05, 0.0), (0.04, 7, 0.10, -0.004), (0.05, 5, 0.12, 0.005)],
)
def test_drawdown_closed_form_matches_hourly_monitored_monte_carlo(
    sigma: float, horizon: int, threshold: float, drift: float
) -> None:
    frame = pd.DataFrame(
        {"threshold": [threshold], "horizon_days": [horizon], "sigma_daily": [sigma]}
    )
    model = GBMFirstPassage(drift=drift, monitoring_dt_days=HOURLY).fit(frame)
    p_closed = model.predict_proba(frame)[0, 1]
    p_mc, se = _monte_carlo(sigma, horizon, np.log1p(-threshold), HOURLY, drift, seed=horizon)
    assert abs(p_closed - p_mc) < 4 * se


def test_daily_monitoring_correction_beats_the_continuous_formula() -> None:
    # BGK is an expansion in 1/sqrt(monitoring dates): with 10+ daily observations
    # it is within about 0.005 of Monte Carlo (measured), the continuous formula 0.05+.
    sigma, threshold = 0.04, 0.10
    for horizon, seed in ((10, 1), (30, 2)):
        frame = pd.DataFrame(
            {"threshold": [threshold], "horizon_days": [horizon], "sigma_daily": [sigma]}
        )
        corrected = GBMFirstPassage(monitoring_dt_days=1.0).fit(frame).predict_proba(frame)[0, 1]
        continuous = GBMFirstPassage(monitoring_dt_days=0.0).fit(frame).predict_proba(frame)[0, 1]
        p_mc, se = _monte_carlo(sigma, horizon, np.log1p(-threshold), 1.0, 0.0, seed)
        assert abs(corrected - p_mc) < 4 * se + 0.008
        assert continuous - p_mc > 0.04


def test_zero_drift_is_twice_the_normal_tail() -> None:
    from scipy.stats import norm

    b, s, h = np.log(0.9), 0.03, np.array([1.0, 7.0, 30.0])
    np.testing.assert_allclose(
        first_passage_probability(b, s, h), 2 * norm.cdf(b / (s * np.sqrt(h))), rtol=1e-12
    )
    # a tiny drift converges to the driftless value; a huge one does not overflow
    np.testing.assert_allclose(
        first_passage_probability(b, s, h, drift=1e-9),
        first_passage_probability(b, s, h),
        rtol=1e-6,
    )
    assert np.isfinite(first_passage_probability(b, s, h, drift=-5.0)).all()


def test_support_frames_use_the_level_barrier_and_daily_closes() -> None:
    frame = pd.DataFrame(
        {
            "level": [90.0, 101.0],
            "ref_close": [100.0, 100.0],
            "horizon_days": [10, 10],
            "sigma_daily": [0.04, 0.04],
            "distance_vol": [2.6, -0.2],
        }
    )
    p = GBMFirstPassage().fit(frame).predict_proba(frame)[:, 1]
    drawdown = pd.DataFrame({"threshold": [0.10], "horizon_days": [10], "sigma_daily": [0.04]})
    daily = GBMFirstPassage(monitoring_dt_days=1.0).fit(drawdown).predict_proba(drawdown)[0, 1]
    assert p[0] == pytest.approx(daily, rel=1e-12)
    assert p[1] == 1.0  # a level above the price is already broken


def test_parkinson_needs_its_column() -> None:
    frame = pd.DataFrame({"threshold": [0.1], "horizon_days": [7], "sigma_daily": [0.03]})
    model = GBMFirstPassage(vol="parkinson").fit(frame)
    with pytest.raises(PredictionInputError, match=r"missing.*sigma_parkinson"):
        model.predict_proba(frame)
    p = model.predict_proba(frame.assign(sigma_parkinson=0.03))[:, 1]
    p_ewma = GBMFirstPassage().fit(frame).predict_proba(frame)[:, 1]
    np.testing.assert_array_equal(p, p_ewma)


def test_bad_rows_are_listed() -> None:
    frame = pd.DataFrame(
        {"threshold": [1.2, 0.1], "horizon_days": [7, 0], "sigma_daily": [0.0, 0.1]}
    )
    with pytest.raises(
        PredictionInputError,
        match=r"(?s)threshold.*out_of_range.*sigma_daily"
        r".*not_positive.*horizon_days",
    ):
        GBMFirstPassage().fit(frame).predict_proba(frame)


def _naive_climatology(
    hist: pd.DataFrame, query: pd.DataFrame, prior: float, m: float
) -> np.ndarray:
    out = []
    for row in query.itertuples():
        known = hist[hist["label_end"] <= row.asof]
        pooled = (known["label"].sum() + m * prior) / (len(known) + m)
        cell = known[
            (known["threshold"] == row.threshold) & (known["horizon_days"] == row.horizon_days)
        ]
        out.append((cell["label"].sum() + m * pooled) / (len(cell) + m))
    return np.array(out)


def test_climatology_is_causal_and_matches_a_naive_loop(synth: Any) -> None:
    frame = synth.make_drawdown_frame(n_dates=60, seed=4)
    model = Climatology(prior=0.1, prior_strength=20.0).fit(frame, frame["label"])
    query = frame.iloc[::37]
    expected = _naive_climatology(frame, query, 0.1, 20.0)
    np.testing.assert_allclose(model.predict_proba(query)[:, 1], expected, rtol=1e-12)
    # flipping every label that is unknown at the query time changes nothing
    last = query["asof"].max()
    future = frame["label_end"] > last
    flipped = frame.assign(label=np.where(future, 1.0 - frame["label"], frame["label"]))
    again = Climatology().fit(flipped, flipped["label"]).predict_proba(query)[:, 1]
    np.testing.assert_array_equal(again, model.predict_proba(query)[:, 1])
    assert future.any()


def test_climatology_starts_at_the_prior_and_buckets_support_rows(synth: Any) -> None:
    frame = synth.make_support_frame(n_dates=40)
    model = Climatology(prior=0.2).fit(frame, frame["label"])
    first = frame[frame["asof"] == frame["asof"].min()]
    np.testing.assert_allclose(model.predict_proba(first)[:, 1], 0.2)
    assert model.kind_ == "support"
    buckets = np.digitize(frame["distance_vol"], model.distance_vol_edges)
    expected_cells = frame.groupby([frame["horizon_days"], buckets]).ngroups
    assert (
        model.history_["cell"].nunique()
        == expected_cells
        > len(synth.make_support_frame(5)["horizon_days"].unique())
    )


def test_climatology_needs_label_end() -> None:
    frame = pd.DataFrame(
        {"threshold": [0.1], "horizon_days": [7], "asof": [pd.Timestamp(0, tz="UTC")]}
    )
    with pytest.raises(ModelInputError, match="label_end"):
        Climatology().fit(frame, [1.0])
    with pytest.raises(NotFittedError, match="Climatology is not fitted"):
        Climatology().predict_proba(frame)


def test_vol_logistic_recovers_its_coefficients() -> None:
    rng = np.random.default_rng(11)
    n = 40_000
    frame = pd.DataFrame(
        {"z_distance": rng.normal(-2, 1, n), "horizon_days": rng.choice([3, 7, 30], n)}
    )
    logit = 1.5 * frame["z_distance"] + 0.3 * np.log(frame["horizon_days"]) + 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    model = VolLogistic().fit(frame, y)
    np.testing.assert_allclose(model.coef_, [1.5, 0.3], atol=0.08)
    assert model.intercept_ == pytest.approx(0.5, abs=0.15)
    p = model.predict_proba(frame)[:, 1]
    assert p.mean() == pytest.approx(y.mean(), abs=1e-3)  # likelihood fit matches the base rate
