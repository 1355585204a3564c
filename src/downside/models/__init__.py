"""models layer: monotone LightGBM surfaces, baselines, calibration, explanations, tuning.

- :class:`DrawdownSurface`: P(drawdown >= threshold within horizon_days), one model
  over the stacked (threshold, horizon) grid; :class:`SupportBreakModel`: P(a support
  level breaks within horizon_days). Both are scikit-learn classifiers with monotone
  constraints, an optional monotone calibrator, SHAP contributions, public methods on
  matrices (``to_matrix``, ``base_margin``, ``tree_margin``) and a JSON state
  (``to_state``/``from_state``) built on LightGBM's text format.
- Baselines on the same frames: :class:`Climatology`, :class:`GBMFirstPassage`,
  :class:`VolLogistic`.
- :mod:`._fit`: where models are fitted (:func:`walk_forward`, :func:`fit_final`).
- :mod:`._distributed`: one booster trained across a Dask cluster's workers with
  LightGBM's ``DaskLGBMClassifier`` from row partitions left on the workers (a spec's
  ``[model] distributed = true``; close to, not bit-identical with, the local fit).
- :class:`Predictor`: a fitted model that answers requests at any as-of time; its
  :class:`InputProfile` (range and deciles of every input in training) checks drift and
  what-if shocks; :func:`run_scenario` answers a request with and without shocks.
- :func:`family_contributions`: exact Shapley values of the driver families in
  probability points.
- Tuning: one Optuna study per spec (:func:`run_worker`). The tuning names are imported
  on first use, so loading a :class:`Predictor` (the served model) never imports Optuna.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from downside.models._baselines import Climatology, GBMFirstPassage, VolLogistic, frame_kind
from downside.models._calibration import (
    ISOTONIC_EPS,
    Calibrator,
    IdentityCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_state,
    select_calibrator,
)
from downside.models._explain import family_contributions, shapley_by_family
from downside.models._fit import (
    BASELINES,
    FoldScore,
    baseline_probabilities,
    daily_rows,
    fit_final,
    folds,
    make_model,
    score_fold,
    test_rows,
    walk_forward,
)
from downside.models._predictor import FrameTransform, Predictor
from downside.models._profile import ColumnProfile, InputProfile
from downside.models._scenario import ScenarioResult, run_scenario
from downside.models._spec import ModelSpec, load_spec, parse_spec
from downside.models._surface import (
    EVAL_METRIC,
    STATE_FORMAT,
    VALID_NAME,
    BoostedSurface,
    DrawdownSurface,
    SupportBreakModel,
)
from downside.models._volbase import (
    BGK_BETA,
    EwmaFhs,
    combo_probability,
    first_passage_probability,
    implied_gbm_probability,
)

if TYPE_CHECKING:
    from downside.models._search import search_space
    from downside.models._tuning import (
        TuningResult,
        close_study,
        make_objective,
        open_study,
        run_worker,
        study_name,
        summarize,
    )

_LAZY = {
    "search_space": "_search",
    **dict.fromkeys(
        (
            "TuningResult",
            "close_study",
            "make_objective",
            "open_study",
            "run_worker",
            "study_name",
            "summarize",
        ),
        "_tuning",
    ),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BASELINES",
    "BGK_BETA",
    "EVAL_METRIC",
    "ISOTONIC_EPS",
    "STATE_FORMAT",
    "VALID_NAME",
    "BoostedSurface",
    "Calibrator",
    "Climatology",
    "ColumnProfile",
    "DrawdownSurface",
    "EwmaFhs",
    "FoldScore",
    "FrameTransform",
    "GBMFirstPassage",
    "IdentityCalibrator",
    "InputProfile",
    "IsotonicCalibrator",
    "ModelSpec",
    "PlattCalibrator",
    "Predictor",
    "ScenarioResult",
    "SupportBreakModel",
    "TuningResult",
    "VolLogistic",
    "baseline_probabilities",
    "calibrator_from_state",
    "close_study",
    "combo_probability",
    "daily_rows",
    "family_contributions",
    "first_passage_probability",
    "fit_final",
    "folds",
    "frame_kind",
    "implied_gbm_probability",
    "load_spec",
    "make_model",
    "make_objective",
    "open_study",
    "parse_spec",
    "run_scenario",
    "run_worker",
    "score_fold",
    "search_space",
    "select_calibrator",
    "shapley_by_family",
    "study_name",
    "summarize",
    "test_rows",
    "walk_forward",
]
