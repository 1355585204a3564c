"""Stacked training frames: columns, z-distances and labels."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from downside.datasets import drawdown_frame, labelled, support_frame
from downside.errors import PredictionInputError, SchemaError
from downside.targets import BreakRule, drawdown_labels, reference, support_break_labels

PriceFactory = Callable[..., pd.DataFrame]


def _features(prices: pd.DataFrame, every: int = 3) -> pd.DataFrame:
    spine = prices[["symbol", "event_ts"]].rename(columns={"event_ts": "asof"}).iloc[::every]
    rng = np.random.default_rng(0)
    return spine.assign(
        **{
            "leverage.oi_change_7d": rng.normal(size=len(spine)),
            "funding.rate_mean_3d": rng.normal(size=len(spine)),
        }
    ).reset_index(drop=True)


def test_drawdown_frame_columns_formula_and_labels(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=150)
    features = _features(prices)
    frame = drawdown_frame(features, prices, (0.05, 0.1), (1.0, 7.0))
    assert list(frame.columns) == [
        "symbol",
        "asof",
        "threshold",
        "horizon_days",
        "z_distance",
        "sigma_daily",
        "sigma_parkinson",
        "leverage.oi_change_7d",
        "funding.rate_mean_3d",
        "label",
        "label_end",
    ]
    assert len(frame) == len(features) * 4
    labels = drawdown_labels(prices, features[["symbol", "asof"]], (0.05, 0.1), (1.0, 7.0))
    pd.testing.assert_series_equal(frame["label"], labels["label"])
    pd.testing.assert_series_equal(frame["label_end"], labels["label_end"])
    sigma = reference(prices, features).set_index(["symbol", "asof"])["sigma_ewma"]
    expected_sigma = sigma.reindex(pd.MultiIndex.from_frame(frame[["symbol", "asof"]])).to_numpy()
    np.testing.assert_array_equal(frame["sigma_daily"].to_numpy(), expected_sigma)
    expected_z = np.log(1 - frame["threshold"]) / (
        frame["sigma_daily"] * np.sqrt(frame["horizon_days"])
    )
    np.testing.assert_allclose(frame["z_distance"], expected_z, equal_nan=True)
    known = frame["z_distance"].dropna()
    assert len(known) > len(frame) * 0.7
    assert (known < 0).all()
    by_key = frame.set_index(["symbol", "asof", "threshold", "horizon_days"])
    feats = features.set_index(["symbol", "asof"])
    for key in [("BTC", features["asof"].iloc[30]), ("ETH", features["asof"].iloc[10])]:
        row = by_key.loc[(*key, 0.1, 7.0)]
        assert row["leverage.oi_change_7d"] == feats.loc[key, "leverage.oi_change_7d"]


def test_labelled_keeps_rows_with_a_label(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=60)
    frame = drawdown_frame(_features(prices, 1), prices)
    kept = labelled(frame)
    assert kept["label"].notna().all()
    assert len(kept) == frame["label"].notna().sum() < len(frame)
    assert list(kept.index) == list(range(len(kept)))
    with pytest.raises(SchemaError, match="expected a 'label' column"):
        labelled(frame.drop(columns="label"))


def test_feature_columns_must_be_named_by_family(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=30)
    features = _features(prices).assign(label=1.0, oi=2.0)
    with pytest.raises(SchemaError, match=r"bad_feature_names \(2\).*<family>\.<name>.*label, oi"):
        drawdown_frame(features, prices)


def test_support_frame_auto_detected(prices_factory: PriceFactory) -> None:
    prices = prices_factory(n=250, seed=4)
    features = _features(prices, 10)
    rule = BreakRule(kind="low", buffer=0.01)
    frame = support_frame(features, prices, None, (3.0, 14.0), rule)
    assert list(frame.columns) == [
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
        "sigma_parkinson",
        "leverage.oi_change_7d",
        "funding.rate_mean_3d",
        "label",
        "label_end",
    ]
    assert isinstance(frame["level_type"].dtype, pd.CategoricalDtype)
    expected_z = np.log(frame["level"] / frame["ref_close"]) / (
        frame["sigma_daily"] * np.sqrt(frame["horizon_days"])
    )
    np.testing.assert_allclose(frame["z_distance"], expected_z, equal_nan=True)
    np.testing.assert_allclose(
        frame["distance_vol"], np.log(frame["ref_close"] / frame["level"]) / frame["sigma_daily"]
    )
    labels = support_break_labels(
        prices, frame[["symbol", "asof", "level"]].drop_duplicates(), (3.0, 14.0), rule
    )
    merged = frame.merge(
        labels, on=["symbol", "asof", "level", "horizon_days"], suffixes=("", "_want")
    )
    assert len(merged) == len(frame)
    np.testing.assert_array_equal(merged["label"], merged["label_want"])
    assert set(frame["label"].dropna()) == {0.0, 1.0}
    assert (frame.groupby(["symbol", "asof", "level"]).size() == 2).all()


def test_support_frame_with_user_levels(prices_factory: PriceFactory) -> None:
    prices = prices_factory(symbols=("BTC",), n=120)
    features = _features(prices, 1)
    asof = features["asof"].iloc[60]
    price = reference(prices, features.iloc[[60]])["ref_close"].item()
    rows = pd.DataFrame(
        {"symbol": "BTC", "asof": [asof, asof], "level": [price * 0.95, price * 0.9]}
    )
    frame = support_frame(features, prices, rows, (7.0,))
    assert frame["level"].tolist() == pytest.approx([price * 0.95, price * 0.9])
    assert (frame["level_type"] == "user").all()
    assert frame["label"].notna().all()
    above = rows.assign(level=[price * 1.05, price * 0.9])
    with pytest.raises(PredictionInputError, match="not below the current price"):
        support_frame(features, prices, above, (7.0,))
    outside = rows.assign(asof=asof + pd.Timedelta(hours=6))
    with pytest.raises(SchemaError, match=r"rows_without_features \(2\)"):
        support_frame(features, prices, outside, (7.0,))
