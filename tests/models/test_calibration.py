"""Monotone calibrators: they repair distorted scores and never reverse the order."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit, logit

from downside.errors import ModelInputError
from downside.evaluation import expected_calibration_error
from downside.models import (
    ISOTONIC_EPS,
    IdentityCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_state,
    select_calibrator,
)
from downside.models._calibration import fit_logistic


def _distorted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True probabilities, labels, and the margin of the distorted score p**3."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2.0, 3.0, n)
    y = (rng.random(n) < p).astype(np.float64)
    return p, y, logit(np.clip(p**3, 1e-12, 1 - 1e-12))


@pytest.mark.parametrize("calibrator_cls", [PlattCalibrator, IsotonicCalibrator])
def test_calibration_repairs_cubed_scores(
    calibrator_cls: type[PlattCalibrator] | type[IsotonicCalibrator],
) -> None:
    _, y_fit, margin_fit = _distorted(20_000, seed=1)
    _, y, margin = _distorted(20_000, seed=2)
    before = expected_calibration_error(expit(margin), y)
    after = expected_calibration_error(calibrator_cls.fit(margin_fit, y_fit).transform(margin), y)
    # measured: ECE 0.28 before; about 0.02 (Platt) and 0.009 (isotonic) after
    assert before > 0.2
    assert after < 0.2 * before


def test_platt_slope_stays_positive_for_reversed_scores() -> None:
    _, y, margin = _distorted(5_000, seed=3)
    platt = PlattCalibrator.fit(-margin, y)
    assert platt.slope > 0
    grid = np.linspace(-10, 10, 101)
    assert (np.diff(platt.transform(grid)) > 0).all()


def test_isotonic_is_non_decreasing_and_never_certain() -> None:
    _, y, margin = _distorted(5_000, seed=4)
    iso = IsotonicCalibrator.fit(margin, y)
    out = iso.transform(np.linspace(-40, 40, 2001))
    assert (np.diff(out) >= 0).all()
    assert out.min() >= ISOTONIC_EPS
    assert out.max() <= 1 - ISOTONIC_EPS


def test_auto_prefers_platt_when_the_distortion_is_logistic() -> None:
    rng = np.random.default_rng(5)
    margin = rng.normal(0, 2, 600)
    y = (rng.random(600) < expit(0.5 * margin - 1.0)).astype(np.float64)
    calibrator, report = select_calibrator(margin, y, np.arange(600), None, "auto")
    assert isinstance(calibrator, PlattCalibrator)
    assert report["log_loss_platt"] < report["log_loss_isotonic"]
    assert calibrator.slope == pytest.approx(0.5, abs=0.15)


def test_auto_prefers_isotonic_for_a_step_shaped_distortion() -> None:
    rng = np.random.default_rng(6)
    margin = rng.normal(0, 2, 20_000)
    y = (rng.random(20_000) < np.where(margin > 1.0, 0.7, 0.05)).astype(np.float64)
    calibrator, report = select_calibrator(margin, y, np.arange(20_000), None, "auto")
    assert isinstance(calibrator, IsotonicCalibrator)
    assert report["method"] == "isotonic"
    assert report["n_folds"] == 3


def test_auto_purges_rows_whose_labels_reach_the_validation_block() -> None:
    rng = np.random.default_rng(7)
    times = np.repeat(np.arange(100), 10)
    margin = rng.normal(0, 1, times.size)
    y = (rng.random(times.size) < expit(margin)).astype(np.float64)
    # every label ends 1000 time units later: no fit rows survive purging
    _, report = select_calibrator(margin, y, times, times + 1000, "auto")
    assert report["n_folds"] == 0
    assert report["method"] == "platt"


def test_one_class_calibration_block_is_refused() -> None:
    with pytest.raises(ModelInputError, match=r"one_class.*calibration='none'"):
        select_calibrator(np.zeros(10), np.zeros(10), np.arange(10), None, "platt")


@pytest.mark.parametrize(
    "calibrator",
    [
        IdentityCalibrator(),
        PlattCalibrator(slope=0.7, intercept=-0.3),
        IsotonicCalibrator(knots_x=(-1.0, 0.5, 2.0), knots_y=(0.1, 0.2, 0.9)),
    ],
)
def test_state_round_trip(
    calibrator: IdentityCalibrator | PlattCalibrator | IsotonicCalibrator,
) -> None:
    again = calibrator_from_state(json.loads(json.dumps(calibrator.to_state())))
    grid = np.linspace(-3, 3, 61)
    np.testing.assert_array_equal(again.transform(grid), calibrator.transform(grid))


def test_unknown_state_kind_is_refused() -> None:
    with pytest.raises(ModelInputError, match="expected kind 'none', 'platt' or 'isotonic'"):
        calibrator_from_state({"kind": "beta"})


def test_weighted_logistic_matches_the_fit_on_the_weighted_rows() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=4000)
    design = np.column_stack([x, np.ones_like(x)])
    y = (rng.random(4000) < expit(np.where(np.arange(4000) < 2000, 2.0, 0.5) * x)).astype(float)
    weights = np.where(np.arange(4000) < 2000, 0.0, 3.0)
    weighted = fit_logistic(design, y, weights=weights)
    np.testing.assert_allclose(weighted, fit_logistic(design[2000:], y[2000:]), atol=1e-4)
    with pytest.raises(ModelInputError, match="non-negative weights"):
        fit_logistic(design, y, weights=-weights)
