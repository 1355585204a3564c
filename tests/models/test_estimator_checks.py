"""The estimator contract suite of :mod:`downside.testing.estimators`, run against every
estimator of the package: scikit-learn's common checks (those that cannot apply are
strict expected failures with the reason their tags give) and the checks on frames."""

from __future__ import annotations

from typing import Any

from downside.models import (
    Climatology,
    DrawdownSurface,
    GBMFirstPassage,
    SupportBreakModel,
    VolLogistic,
)
from downside.testing.estimators import parametrize_with_checks

SMALL = {"n_estimators": 20, "min_child_samples": 20, "num_leaves": 7, "random_state": 0}
"""Surfaces small enough to fit in a tenth of a second on the suite's frames."""

ESTIMATORS = [
    DrawdownSurface(**SMALL),
    DrawdownSurface(**SMALL, base="combo"),
    SupportBreakModel(**SMALL, base="vol_logistic"),
    Climatology(),
    GBMFirstPassage(),
    GBMFirstPassage(vol="implied"),
    VolLogistic(),
]


@parametrize_with_checks(ESTIMATORS)
def test_estimator_contract(estimator: Any, check: Any) -> None:
    check(estimator)
