"""`downside.Forecaster` on models trained once per session on the simulated market."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from downside.api import Forecaster
from downside.datasets import build_frame
from downside.errors import (
    InsufficientHistoryError,
    InvalidTimeError,
    PredictionInputError,
    StaleDataError,
    UnknownSymbolError,
)
from downside.models import family_contributions

FAMILIES = [
    "leverage",
    "funding",
    "etf_flows",
    "rates",
    "implied_vol",
    "technical",
    "drivers_vol",
]

FIRST_COLUMNS = ["asof", "symbol", "threshold", "horizon_days", "probability"]


@pytest.fixture
def fc(trained_env: object) -> Forecaster:
    return Forecaster.load()


def test_default_query_is_the_full_grid_at_the_latest_time(fc: Forecaster) -> None:
    out = fc.predict_drawdown("btc")
    assert fc.drawdown is not None
    spec = fc.drawdown.spec
    assert list(out.columns[:5]) == FIRST_COLUMNS
    assert len(out) == len(spec.frame.thresholds) * len(spec.frame.horizons_days)
    assert fc.drawdown.family_names == tuple(FAMILIES)
    assert set(out["asof"]) == {fc.feature_store.latest_asof("BTC")}
    assert out["probability"].between(0, 1).all()
    assert (out["stale_features"] == "").all()
    points = out[list(FAMILIES)].sum(axis=1)
    np.testing.assert_allclose(points, out["probability"] - out["p_reference"], atol=1e-9)
    grid = out.pivot_table(index="threshold", columns="horizon_days", values="probability")
    assert (np.diff(grid.to_numpy(), axis=0) <= 1e-12).all(), "deeper drawdowns less likely"
    assert (np.diff(grid.to_numpy(), axis=1) >= -1e-12).all(), "longer horizons more likely"
    assert fc.sources["drawdown"].version == "1"


def test_answers_equal_the_model_on_the_training_frame(fc: Forecaster) -> None:
    """The in-memory fast path gives the model's own probabilities and the driver points
    of LightGBM's pred_contrib, on every as-of day of a month for two symbols."""
    assert fc.drawdown is not None
    pred = fc.drawdown
    times = pd.date_range("2024-03-01", "2024-03-31", freq="D", tz="UTC")
    out = fc.predict_drawdown(["ETH", "BTC"], asof=times)
    spine = out[["symbol", "asof"]].drop_duplicates().reset_index(drop=True)
    data = build_frame(pred.spec.frame, fc.feature_store, asof=spine)
    frame = data.frame.sort_values(["asof", "symbol", "threshold", "horizon_days"])
    X = frame[list(pred.input_columns)].reset_index(drop=True)
    assert len(out) == len(X) == 2 * 31 * 25
    np.testing.assert_array_equal(out["threshold"], frame["threshold"])
    np.testing.assert_array_equal(out["probability"], pred.model.predict_proba(X)[:, 1])
    reference = family_contributions(pred.model, X, pred.families, pred.family_names)
    for family in FAMILIES:
        np.testing.assert_allclose(out[family], reference[family], atol=1e-10)
    np.testing.assert_allclose(out["p_reference"], reference["p_reference"], atol=1e-10)


def test_batches_accept_lists_and_ranges(fc: Forecaster) -> None:
    times = pd.date_range("2024-06-01", periods=5, freq="D", tz="UTC")
    by_range = fc.predict_drawdown(["BTC"], asof=times, thresholds=[0.1], horizons=[7])
    by_list = fc.predict_drawdown(
        ["BTC"], asof=[t.strftime("%Y-%m-%d") for t in times], thresholds=[0.1], horizons=[7]
    )
    pd.testing.assert_frame_equal(by_range, by_list)
    assert len(by_range) == 5
    single = fc.predict_drawdown("BTC", asof="2024-06-03", thresholds=[0.1], horizons=[7])
    pd.testing.assert_frame_equal(single, by_range.iloc[[2]].reset_index(drop=True))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"symbols": ["DOGE"]}, UnknownSymbolError, "unknown symbol.*DOGE"),
        (
            {"symbols": ["BTC"], "thresholds": [10.0]},
            PredictionInputError,
            r"thresholds must be finite numbers in \(0, 1\].*fractions",
        ),
        (
            {"symbols": ["BTC"], "thresholds": [0.01]},
            PredictionInputError,
            r"thresholds \[0.01\] outside the trained range \[0.05, 0.3\]",
        ),
        (
            {"symbols": ["BTC"], "horizons": [90]},
            PredictionInputError,
            r"horizons \[90.0\] outside",
        ),
        ({"symbols": ["BTC"], "asof": "2021-07-05"}, InsufficientHistoryError, "too little price"),
        ({"symbols": ["BTC"], "asof": "not a time"}, InvalidTimeError, "cannot read as-of time"),
        ({"symbols": []}, PredictionInputError, "no symbol given"),
        ({"symbols": None}, PredictionInputError, "no symbols given"),
        ({"symbols": ["BTC"], "thresholds": []}, PredictionInputError, "empty list"),
        ({"symbols": ["BTC"], "asof": []}, PredictionInputError, "no as-of times"),
        ({"symbols": ["BTC"], "thresholds": "0.1"}, PredictionInputError, "a list of numbers"),
        ({"symbols": 5}, PredictionInputError, "symbols must be a symbol"),
    ],
)
def test_clear_errors(
    fc: Forecaster, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        fc.predict_drawdown(**kwargs)  # type: ignore[arg-type]


def test_a_single_threshold_is_a_one_element_grid(fc: Forecaster) -> None:
    one = fc.predict_drawdown("BTC", thresholds=0.1, horizons=7)
    listed = fc.predict_drawdown(["BTC"], thresholds=[0.1], horizons=[7])
    pd.testing.assert_frame_equal(one, listed)


def test_stale_inputs_raise_with_names_and_ages_or_are_flagged(fc: Forecaster) -> None:
    late = fc.feature_store.latest_asof("BTC") + pd.Timedelta(days=12)
    with pytest.raises(StaleDataError, match=r"stale: \d+ feature\(s\).*h old") as info:
        fc.predict_drawdown("BTC", asof=late)
    assert info.value.stale
    assert all(age > 24 * 12 for age in info.value.stale.values())
    out = fc.predict_drawdown("BTC", asof=late, allow_stale=True)
    flagged = set(out["stale_features"].iloc[0].split(","))
    assert flagged == set(info.value.stale)
    assert out["probability"].between(0, 1).all()


def test_support_breaks_for_detected_and_given_levels(fc: Forecaster) -> None:
    auto = fc.predict_support_break("BTC")
    assert list(auto.columns[:5]) == ["asof", "symbol", "level", "horizon_days", "probability"]
    assert (auto["level"] < auto["ref_close"]).all()
    assert auto["level_type"].nunique() >= 2
    price = float(auto["ref_close"].iloc[0])
    levels = [round(price * 0.9), round(price * 0.8)]
    given = fc.predict_support_break("BTC", levels=levels, horizons=[7, 14])
    assert sorted(set(given["level"])) == sorted(levels)
    assert set(given["level_type"]) == {"user"}
    near = given.set_index(["level", "horizon_days"])["probability"]
    assert near[(levels[0], 7.0)] >= near[(levels[1], 7.0)], "nearer level breaks more often"
    points = given[list(FAMILIES)].sum(axis=1)
    np.testing.assert_allclose(points, given["probability"] - given["p_reference"], atol=1e-9)


def test_a_support_above_the_price_is_refused(fc: Forecaster) -> None:
    price = float(fc.predict_drawdown("BTC", thresholds=[0.1], horizons=[7])["ref_close"][0])
    with pytest.raises(PredictionInputError, match="not below the current price"):
        fc.predict_support_break("BTC", levels=[price * 1.05])


def test_other_aliases_and_missing_models() -> None:
    from downside.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="downside-drawdown"):
        Forecaster.load(alias="no-such-alias")
