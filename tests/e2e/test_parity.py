"""Train/serve parity: for every row of a walk-forward fold, the serving path (a
Predictor answering a request, and the MLflow pyfunc answering request rows) gives the
same features and probabilities as the training frame the fold's model was scored on.

Two roads are compared on each row (symbol, as-of, threshold or level, horizon):

- training: ``build_frame(spec.frame, store)`` with labels, the fold's test rows, the
  fold model's ``predict_proba`` on them;
- serving: ``Predictor.answer`` (and ``tracking.answer`` for pyfunc rows) for the same
  keys, which checks the request and builds its own rows.

Both call the one frame builder, so the test also checks the builder against an
independent assembly: the feature store read directly (``get_features``) and the
DataFrame-based ``drawdown_frame``/``support_frame`` of ``downside.datasets``. A
deliberately perturbed copy of the served features shows the comparison fails when
one value changes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.config import load_settings
from downside.datasets import (
    Frame,
    build_frame,
    check_request,
    daily_prices,
    drawdown_frame,
    support_frame,
)
from downside.features import FeatureStore
from downside.models import ModelSpec, Predictor, folds, load_spec, score_fold
from downside.store import Store
from downside.tracking import answer as pyfunc_answer

REPO = Path(__file__).resolve().parents[2]
FAST = {"n_estimators": 40, "num_leaves": 4, "min_child_samples": 400, "n_jobs": 1}


def _spec(name: str, symbols: tuple[str, ...]) -> ModelSpec:
    spec = load_spec(name, REPO / "models")
    return dataclasses.replace(
        spec,
        frame=dataclasses.replace(spec.frame, symbols=symbols),
        model_params={**spec.model_params, **FAST},
    )


def _keys(spec: ModelSpec) -> list[str]:
    cell = spec.frame.cell_column
    return ["symbol", "asof", cell, "horizon_days"]


def assert_same_rows(
    expected: pd.DataFrame, served: pd.DataFrame, keys: list[str], columns: list[str]
) -> None:
    """Every key of ``expected`` is served, with equal values in ``columns`` (NaN equal
    to NaN, float tolerance 1e-12)."""
    merged = expected[[*keys, *columns]].merge(
        served[[*keys, *columns]], on=keys, how="left", suffixes=("", "_served"), indicator=True
    )
    assert (merged["_merge"] == "both").all(), "a training row has no served answer"
    for column in columns:
        np.testing.assert_allclose(
            merged[f"{column}_served"].to_numpy(dtype=float),
            merged[column].to_numpy(dtype=float),
            rtol=1e-12,
            atol=1e-12,
            equal_nan=True,
            err_msg=column,
        )


def _fold(spec: ModelSpec, data: Frame) -> tuple[Predictor, pd.DataFrame]:
    """The last walk-forward fold: its fitted model as a predictor, and its test rows
    with the model's probabilities."""
    fold = list(folds(spec, data))[-1]
    score = score_fold(spec, data, fold, keep_model=True)
    assert score.model is not None
    test = data.labelled.iloc[fold.test_idx].reset_index(drop=True)
    test["probability"] = score.model.predict_proba(test[list(data.input_columns)])[:, 1]
    return Predictor.from_frame(spec, "", score.model, data), test


def _check_fold(spec: ModelSpec, fs: FeatureStore) -> None:
    data = build_frame(spec.frame, fs)
    predictor, test = _fold(spec, data)
    keys = _keys(spec)
    features = list(data.feature_columns)
    symbols = sorted(set(test["symbol"]))
    times = sorted(set(test["asof"]))
    cell = spec.frame.cell_column

    # serving path 1: a Predictor answering the request of the Python API
    request: dict[str, object] = {"symbols": symbols, "asof": times}
    if cell == "threshold":
        request["thresholds"] = list(spec.frame.thresholds)
    answered = predictor.answer(fs, **request)
    assert_same_rows(test, answered, keys, ["probability"])
    served = predictor.frame(fs, check_request(spec.frame, fs, **request)).frame
    assert_same_rows(test, served, keys, [*features, "z_distance", "sigma_daily"])

    # serving path 2: the pyfunc's request rows (ISO text times, empty grid = full grid)
    rows = pd.DataFrame(
        {
            "symbol": [s for s in symbols for _ in times[:5]],
            "asof": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for _ in symbols for t in times[:5]],
        }
    )
    served_rows = pyfunc_answer(predictor, fs, rows)
    head = test[test["asof"].isin(times[:5])]
    assert_same_rows(head, served_rows, keys, ["probability"])

    # the perturbed copy: one feature value off by one part in a million is caught
    broken = served.copy()
    column = next(c for c in features if broken[c].notna().any())
    row = broken[column].first_valid_index()
    broken.loc[row, column] = broken.loc[row, column] * (1 + 1e-6) + 1e-9
    with pytest.raises(AssertionError):
        assert_same_rows(test, broken, keys, [column])


def _check_independent_assembly(spec: ModelSpec, fs: FeatureStore, spine: pd.DataFrame) -> None:
    """The builder's rows equal those of the DataFrame-based frame functions fed by the
    feature store read directly (no builder cache)."""
    built = build_frame(spec.frame, fs, asof=spine).frame
    names = [c for c in built.columns if "." in c]
    direct = fs.get_features(spine, names)
    prices = daily_prices(fs)
    if spec.frame.cell_column == "threshold":
        expected = drawdown_frame(
            direct, prices, list(spec.frame.thresholds), list(spec.frame.horizons_days)
        )
    else:
        expected = support_frame(
            direct, prices, None, list(spec.frame.horizons_days), spec.frame.break_rule_
        )
    keys = _keys(spec)
    assert len(built) == len(expected)
    assert_same_rows(expected, built, keys, [*names, "z_distance", "sigma_daily", "label"])


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    from downside.sources import simulate_market

    root = tmp_path_factory.mktemp("parity")
    settings = load_settings({"home": root / "home"})
    sim = simulate_market(root / "market", start="2021-01-01", end="2024-06-30", seed=5)
    Store.from_settings(settings).ingest_files(sim.out_dir)
    return FeatureStore.from_settings(settings)


@pytest.fixture(scope="module")
def real_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    root = tmp_path_factory.mktemp("parity-real")
    settings = load_settings({"home": root / "home"})
    Store.from_settings(settings).ingest_files(shared_data)
    return FeatureStore.from_settings(settings)


def _hourly_spine(fs: FeatureStore, symbols: tuple[str, ...], end: str) -> pd.DataFrame:
    times = pd.date_range(end=pd.Timestamp(end, tz="UTC"), periods=72, freq="7h", unit="us")
    return pd.DataFrame(
        {"symbol": [s for s in symbols for _ in times], "asof": list(times) * len(symbols)}
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["drawdown", "support"])
def test_simulated_fold_is_served_as_trained(sim_store: FeatureStore, name: str) -> None:
    spec = _spec(name, ("BTC", "ETH"))
    _check_fold(spec, sim_store)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["drawdown", "support"])
def test_simulated_daily_and_hourly_rows_equal_an_independent_assembly(
    sim_store: FeatureStore, name: str
) -> None:
    spec = _spec(name, ("BTC", "ETH"))
    daily = build_frame(spec.frame, sim_store, asof=None).keys.iloc[-200:]
    _check_independent_assembly(spec, sim_store, daily)
    _check_independent_assembly(
        spec, sim_store, _hourly_spine(sim_store, ("BTC", "SOL"), "2024-05-01")
    )


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("name", ["drawdown", "support"])
def test_real_data_fold_is_served_as_trained(real_store: FeatureStore, name: str) -> None:
    spec = _spec(name, ("BTC", "ETH"))
    spec = dataclasses.replace(spec, frame=dataclasses.replace(spec.frame, end="2024-12-31"))
    _check_fold(spec, real_store)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("name", ["drawdown", "support"])
def test_real_hourly_rows_equal_an_independent_assembly(
    real_store: FeatureStore, name: str
) -> None:
    spec = _spec(name, ("BTC", "ETH"))
    _check_independent_assembly(
        spec, real_store, _hourly_spine(real_store, ("BTC", "ETH"), "2024-11-20")
    )
