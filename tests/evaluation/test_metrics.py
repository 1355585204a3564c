"""Scores and calibration diagnostics agree with scikit-learn where they overlap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss

from downside.errors import ModelInputError
from downside.evaluation import (
    brier_score,
    brier_skill,
    expected_calibration_error,
    log_loss,
    reliability_table,
)


@pytest.fixture
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    p = rng.beta(1.5, 5.0, 5_000)
    y = (rng.random(5_000) < p).astype(np.float64)
    return p, y


def test_brier_and_log_loss_match_sklearn(sample: tuple[np.ndarray, np.ndarray]) -> None:
    p, y = sample
    assert brier_score(p, y) == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert log_loss(p, y) == pytest.approx(sk_log_loss(y, p), rel=1e-12)


def test_log_loss_is_clipped() -> None:
    assert log_loss([0.0, 1.0], [1, 0]) == pytest.approx(-np.log(1e-15), rel=1e-4)
    with pytest.raises(ModelInputError, match=r"0 < eps < 0\.5"):
        log_loss([0.5], [1], eps=0.7)


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_reliability_table_matches_calibration_curve(
    sample: tuple[np.ndarray, np.ndarray], strategy: str
) -> None:
    p, y = sample
    table = reliability_table(p, y, 10, strategy=strategy)  # type: ignore[arg-type]
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy=strategy)
    np.testing.assert_allclose(table["observed_rate"], prob_true, rtol=1e-12)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred, rtol=1e-12)
    assert table["count"].sum() == len(p)


def test_ece_is_the_weighted_gap(sample: tuple[np.ndarray, np.ndarray]) -> None:
    p, y = sample
    table = reliability_table(p, y, 10)
    expected = np.average(
        np.abs(table["observed_rate"] - table["mean_predicted"]), weights=table["count"]
    )
    assert expected_calibration_error(p, y) == pytest.approx(expected, rel=1e-12)
    # a calibrated forecast scores far better than a cubed one
    assert expected_calibration_error(p**3, y) > 5 * expected_calibration_error(p, y)


def test_brier_skill() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.9, 0.8, 0.2])
    ref = np.full(4, 0.5)
    assert brier_skill(p, ref, y) == pytest.approx(1 - 0.025 / 0.25)
    assert brier_skill(ref, ref, y) == 0.0
    with pytest.raises(ModelInputError, match="perfect_reference"):
        brier_skill(p, y.astype(float), y)


def test_every_input_problem_is_listed() -> None:
    with pytest.raises(ModelInputError, match=r"(?s)non_binary_labels.*length_mismatch") as info:
        brier_skill([0.2, 0.3], [0.1, 0.2, 0.3], [0, 2, 1])
    assert len(info.value.problems) == 2
    with pytest.raises(ModelInputError, match=r"(?s)non_finite.*outside_unit_interval"):
        brier_score([np.nan, 1.5, 0.2], [0, 1, 1])
    with pytest.raises(ModelInputError, match="unknown_value"):
        reliability_table([0.1], [1], strategy="kmeans")  # type: ignore[arg-type]
