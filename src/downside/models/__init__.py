"""models layer: monotone LightGBM surfaces, baselines, calibration and explanations.

- :class:`DrawdownSurface`: P(drawdown >= threshold within horizon_days), one model
  over the stacked (threshold, horizon) grid; :class:`SupportBreakModel`: P(a support
  level breaks within horizon_days). Both are scikit-learn classifiers with monotone
  constraints, a monotone calibrator fitted on the last block of time, SHAP
  contributions and a JSON state (``to_state``/``from_state``) built on LightGBM's
  text format.
- Baselines on the same frames: :class:`Climatology`, :class:`GBMFirstPassage`,
  :class:`VolLogistic`.
- :func:`family_contributions`: exact Shapley values of the driver families in
  probability points.
"""

from downside.models._backtest import (
    BacktestResult,
    run_backtest,
    summary_markdown,
    write_backtest,
)
from downside.models._baselines import (
    BGK_BETA,
    Climatology,
    GBMFirstPassage,
    VolLogistic,
    first_passage_probability,
    frame_kind,
)
from downside.models._calibration import (
    ISOTONIC_EPS,
    Calibrator,
    IdentityCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_state,
    select_calibrator,
)
from downside.models._explain import family_contributions, infer_families, shapley_by_family
from downside.models._pipeline import (
    BASELINES,
    FoldScore,
    TrainingData,
    assemble,
    daily_spine,
    fit_final,
    make_model,
    score_fold,
    select_features,
    walk_forward,
)
from downside.models._predictor import Predictor
from downside.models._search import search_space
from downside.models._spec import FAMILIES, ModelSpec, load_spec, parse_spec
from downside.models._surface import (
    EVAL_METRIC,
    STATE_FORMAT,
    VALID_NAME,
    BoostedSurface,
    DrawdownSurface,
    SupportBreakModel,
)
from downside.models._tuning import (
    TuningResult,
    close_study,
    make_objective,
    open_study,
    run_worker,
    study_name,
    summarize,
)

__all__ = [
    "BASELINES",
    "BGK_BETA",
    "EVAL_METRIC",
    "FAMILIES",
    "ISOTONIC_EPS",
    "STATE_FORMAT",
    "VALID_NAME",
    "BacktestResult",
    "BoostedSurface",
    "Calibrator",
    "Climatology",
    "DrawdownSurface",
    "FoldScore",
    "GBMFirstPassage",
    "IdentityCalibrator",
    "IsotonicCalibrator",
    "ModelSpec",
    "PlattCalibrator",
    "Predictor",
    "SupportBreakModel",
    "TrainingData",
    "TuningResult",
    "VolLogistic",
    "assemble",
    "calibrator_from_state",
    "close_study",
    "daily_spine",
    "family_contributions",
    "first_passage_probability",
    "fit_final",
    "frame_kind",
    "infer_families",
    "load_spec",
    "make_model",
    "make_objective",
    "open_study",
    "parse_spec",
    "run_backtest",
    "run_worker",
    "score_fold",
    "search_space",
    "select_calibrator",
    "select_features",
    "shapley_by_family",
    "study_name",
    "summarize",
    "summary_markdown",
    "walk_forward",
    "write_backtest",
]
