"""Volatility bases of the surfaces: the Parkinson GBM base, the combination base, and
surfaces without trees (the base alone)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from downside.errors import ModelSpecError
from downside.models import DrawdownSurface, EwmaFhs, GBMFirstPassage, first_passage_probability


def _frame(synth: Any, drawdown_frame: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = drawdown_frame.copy()
    frame["sigma_parkinson"] = frame["sigma_daily"] * 1.05
    frame["sigma_implied"] = np.where(rng.random(len(frame)) < 0.5, np.nan, frame["sigma_daily"])
    frame["std_ret_1d"] = rng.standard_t(4, len(frame)) / np.sqrt(2.0)
    return frame


def test_a_surface_without_trees_is_its_base(synth: Any, drawdown_frame: pd.DataFrame) -> None:
    frame = _frame(synth, drawdown_frame)
    cols = [*synth.DRAWDOWN_INPUTS, "sigma_parkinson", "sigma_implied", "std_ret_1d"]
    model = DrawdownSurface(n_estimators=0, base="parkinson", calibration="none")
    model.fit(frame[cols], frame["label"], times=frame["asof"])
    assert model.booster_ is None
    gbm = GBMFirstPassage(vol="parkinson").fit(frame).predict_proba(frame)[:, 1]
    np.testing.assert_allclose(model.predict_proba(frame[cols])[:, 1], gbm, rtol=0, atol=1e-9)
    contrib = model.contributions(frame[cols].iloc[:50])
    assert (contrib.drop(columns="bias").to_numpy() == 0).all()
    again = DrawdownSurface.from_state(model.to_state())
    np.testing.assert_array_equal(
        again.predict_proba(frame[cols]), model.predict_proba(frame[cols])
    )


def test_trees_boost_from_the_parkinson_base(synth: Any, drawdown_frame: pd.DataFrame) -> None:
    frame = _frame(synth, drawdown_frame)
    cols = [*synth.DRAWDOWN_INPUTS, "sigma_parkinson", "sigma_implied", "std_ret_1d"]
    model = DrawdownSurface(**synth.FAST, base="parkinson")
    model.fit(frame[cols], frame["label"], times=frame["asof"], label_end=frame["label_end"])
    matrix = model.to_matrix(frame[cols])
    gbm = GBMFirstPassage(vol="parkinson").fit(frame).predict_proba(frame)[:, 1]
    base = 1.0 / (1.0 + np.exp(-model.base_margin(matrix)))
    np.testing.assert_allclose(base, np.clip(gbm, 1e-12, 1 - 1e-12), rtol=1e-9)
    assert "sigma_parkinson" not in model.tree_features_
    assert model.booster_ is not None


def test_no_trees_needs_a_base() -> None:
    with pytest.raises(ModelSpecError, match="a base when n_estimators is 0"):
        DrawdownSurface(n_estimators=0, base="none").fit(pd.DataFrame({"x": [1.0]}), [1])


def test_fhs_with_normal_shocks_and_constant_volatility_matches_the_reflection_principle() -> None:
    rng = np.random.default_rng(0)
    fhs = EwmaFhs.fit(rng.standard_normal(20_000), 10, paths=40_000, lam=1.0, seed=1)
    b = np.log(1 - np.array([0.05, 0.1]))
    # daily monitoring of a driftless random walk: the continuous formula with the
    # barrier shifted by 0.5826 sigma (Broadie-Glasserman-Kou) is within simulation noise
    sigma = 0.03
    expected = first_passage_probability(b - 0.5826 * sigma, sigma, 10.0)
    np.testing.assert_allclose(fhs.probability(b, sigma, 10.0), expected, atol=0.01)
