"""What-if answers: the base case exactly without shocks, monotone where the model's
constraints say so, inputs outside the training range flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from downside import api
from downside.config import load_settings
from downside.datasets import Shock
from downside.models import InputProfile, Predictor

FAMILY_CHECK = 1e-12


@pytest.fixture
def forecaster(trained_env: object) -> api.Forecaster:
    return api.Forecaster.load(settings=load_settings())


def test_no_shock_is_the_base_forecast_exactly(forecaster: api.Forecaster) -> None:
    result = forecaster.scenario(["BTC", "ETH"], [])
    base = forecaster.predict_drawdown(["BTC", "ETH"])
    assert len(result.table) == len(base)
    np.testing.assert_array_equal(result.table["probability"], base["probability"])
    np.testing.assert_array_equal(result.table["base_probability"], base["probability"])
    assert (result.table["change"] == 0).all()
    pd.testing.assert_frame_equal(result.shocked.drop(columns="outside_training"), base)
    support = forecaster.scenario("BTC", [], target="support")
    plain = forecaster.predict_support_break("BTC")
    np.testing.assert_array_equal(support.table["probability"], plain["probability"])


def test_change_splits_into_reference_and_families(forecaster: api.Forecaster) -> None:
    result = forecaster.scenario(["BTC"], ["price-=10%", "funding=q99", "volatility*=1.3"])
    table = result.table
    families = list(forecaster.drawdown.family_names)  # type: ignore[union-attr]
    total = table["reference"] + table[families].sum(axis=1)
    np.testing.assert_allclose(total, table["change"], atol=1e-9)
    assert (table["ref_close"] < table["base_ref_close"]).all()
    assert {"ref_close", "sigma_daily", "funding.funding_rate"} <= set(result.changes["column"])


@pytest.mark.parametrize(
    "shocks",
    [
        ["price-=10%"],
        ["leverage_flush"],
        ["hawkish_repricing"],
        ["etf_outflows"],
        ["funding_spike"],
        ["volatility_spike"],
        ["volatility*=3", "price-=25%"],
    ],
)
def test_scenario_surfaces_keep_the_monotone_constraints(
    forecaster: api.Forecaster, shocks: list[str]
) -> None:
    """The drawdown model is constrained to fall with the threshold and rise with the
    horizon: every scenario surface must too."""
    table = forecaster.scenario(["BTC", "ETH"], shocks).table
    for _, part in table.groupby(["symbol", "asof"]):
        grid = part.pivot_table(index="threshold", columns="horizon_days", values="probability")
        values = grid.to_numpy()
        assert (np.diff(values, axis=0) <= FAMILY_CHECK).all(), "rises with the threshold"
        assert (np.diff(values, axis=1) >= -FAMILY_CHECK).all(), "falls with the horizon"


def test_support_breaks_rise_as_the_price_falls_toward_the_levels(
    forecaster: api.Forecaster,
) -> None:
    """Held volatility and features: a lower price only moves the level distances, on
    which the support model is constrained (closer levels break no less often)."""
    moves = [0.0, -0.01, -0.02, -0.03, -0.05]
    tables = []
    for move in moves:
        shock = Shock(input="price", move=move, volatility="hold", derived="hold")
        tables.append(forecaster.scenario("BTC", [shock], target="support").table)
    keys = ["level", "horizon_days"]
    merged = tables[0][[*keys, "probability"]]
    for k, table in enumerate(tables[1:], start=1):
        merged = merged.merge(
            table[[*keys, "probability"]], on=keys, how="inner", suffixes=("", f"_{k}")
        )
    assert len(merged) > 0
    columns = ["probability", *[f"probability_{k}" for k in range(1, len(moves))]]
    values = merged[columns].to_numpy()
    assert (np.diff(values, axis=1) >= -FAMILY_CHECK).all()
    assert (values[:, -1] > values[:, 0]).any()


def test_shocks_outside_the_training_range_are_flagged(forecaster: api.Forecaster) -> None:
    result = forecaster.scenario(["BTC"], ["volatility*=10"])
    assert result.flagged
    flagged = result.changes[result.changes["outside_training"]]
    assert "sigma_daily" in set(flagged["column"])
    assert result.table["outside_training"].str.contains("sigma_daily").all()
    calm = forecaster.scenario(["BTC"], ["volatility*=1.01"])
    assert not calm.table["outside_training"].str.contains("sigma_daily").any()


def test_unused_inputs_are_reported(forecaster: api.Forecaster) -> None:
    result = forecaster.scenario(["BTC"], ["etf_flows.etf_flow_total_sum_20obs=q5"])
    assert result.unused == ("etf_flows.etf_flow_total_sum_20obs",)
    assert (result.table["change"] == 0).all()


def test_a_registered_model_keeps_its_training_profile(forecaster: api.Forecaster) -> None:
    predictor = forecaster.drawdown
    assert predictor is not None
    profile = predictor.profile
    assert isinstance(profile, InputProfile)
    assert profile.keys > 0
    assert profile.last_label_end is not None
    assert set(predictor.used_features()) <= set(profile.columns)
    again = Predictor.from_state(predictor.to_state())
    assert again.profile == profile
    sigma = profile.columns["sigma_daily"]
    assert sigma.low < sigma.high
    assert sum(sigma.shares) == pytest.approx(1.0)
