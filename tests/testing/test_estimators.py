"""The estimator suite itself: its frames follow the contract, its checks catch broken
estimators, and its expected failures are derived from the tags and kept strict."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from downside.models import DrawdownSurface, GBMFirstPassage, VolLogistic
from downside.testing.estimators import (
    FEATURES,
    FRAME_CHECKS,
    ON_ARRAYS,
    _expected_to_fail,
    check_frame_inputs_unchanged,
    check_frame_missing_columns,
    check_frame_refuses_arrays,
    expected_failed_checks,
    frame_checks,
    input_columns,
    make_frame,
)


@pytest.mark.parametrize("kind", ["drawdown", "support"])
def test_frames_follow_the_contract(kind: str) -> None:
    frame = make_frame(kind)
    assert set(input_columns(kind)) <= set(frame.columns)
    assert {"symbol", "asof", "label", "label_end"} <= set(frame.columns)
    assert str(frame["asof"].dtype) == "datetime64[us, UTC]"
    assert frame["asof"].is_monotonic_increasing
    assert (frame["label_end"] > frame["asof"]).all()
    assert set(np.unique(frame["label"])) == {0, 1}
    assert frame[list(FEATURES)].notna().all().all()
    assert frame["sigma_implied"].isna().any()
    assert frame["sigma_implied"].notna().any()
    pd.testing.assert_frame_equal(make_frame(kind), frame)


class RawKeyError(VolLogistic):
    """Looks a column up before checking it is there."""

    def predict_proba(self, X: pd.DataFrame) -> Any:
        X["z_distance"]
        return super().predict_proba(X)


class MutatesX(VolLogistic):
    """Writes into the caller's frame."""

    def predict_proba(self, X: pd.DataFrame) -> Any:
        X["z_distance"] = X["z_distance"] - 1.0
        return super().predict_proba(X)


class NumpyFriendly(VolLogistic):
    """Says nothing of frames: scikit-learn's default input tags."""

    def __sklearn_tags__(self) -> Any:
        return ClassifierMixin.__sklearn_tags__(self)


def test_a_raw_key_error_is_caught() -> None:
    with pytest.raises(AssertionError, match="got KeyError"):
        check_frame_missing_columns(RawKeyError())


def test_an_estimator_writing_into_x_is_caught() -> None:
    with pytest.raises(AssertionError, match="z_distance"):
        check_frame_inputs_unchanged(MutatesX())


def test_an_estimator_taking_arrays_fails_the_frame_check() -> None:
    class TakesAnything(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
        def __sklearn_tags__(self) -> Any:
            return VolLogistic().__sklearn_tags__()

        def fit(self, X: Any, y: Any) -> TakesAnything:
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, X: Any) -> Any:
            return np.full((len(X), 2), 0.5)

    with pytest.raises(AssertionError, match="nothing was raised"):
        check_frame_refuses_arrays(TakesAnything())


def test_estimators_must_declare_frame_tags() -> None:
    with pytest.raises(AssertionError, match="FrameInputTags"):
        expected_failed_checks(NumpyFriendly())


def test_expected_failures_follow_the_tags() -> None:
    surface = expected_failed_checks(DrawdownSurface())
    assert set(ON_ARRAYS) <= set(surface)
    assert "threshold" in surface["check_estimators_pickle"]
    assert "check_frame_pickle" in surface["check_estimators_pickle"]
    closed_form = expected_failed_checks(GBMFirstPassage())
    assert "check_estimators_fit_returns_self" not in closed_form  # its fit reads nothing
    assert "learns nothing from the rows" in closed_form["check_fit1d"]
    for reasons in (surface, closed_form):
        assert "NotFittedError" in reasons["check_estimators_unfitted"]


def test_checks_ruled_out_by_tags_are_not_generated() -> None:
    surface = dict(frame_checks(DrawdownSurface()))
    closed_form = dict(frame_checks(GBMFirstPassage()))
    assert "check_frame_labels" in surface
    assert "check_frame_labels" not in closed_form
    assert "check_frame_positive_only" in closed_form
    assert "check_frame_positive_only" not in surface
    assert set(surface) | set(closed_form) == set(FRAME_CHECKS)


def test_an_expected_failure_that_passes_fails() -> None:
    def passes(estimator: Any) -> None:
        return None

    run = _expected_to_fail(passes, "check_something", "a reason")
    with pytest.raises(AssertionError, match="take it off"):
        run(VolLogistic())


def test_an_expected_failure_is_reported_as_xfail() -> None:
    def fails(estimator: Any) -> None:
        raise ValueError("unnamed array")

    run = _expected_to_fail(fails, "check_something", "a reason")
    with pytest.raises(pytest.xfail.Exception, match="a reason"):
        run(VolLogistic())
