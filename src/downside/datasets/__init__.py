"""datasets layer: the frame builder, request checks and purged walk-forward splits.

- :func:`build_frame` is the one place where model rows are assembled (training,
  backtests, the Forecaster and the served model all call it); :class:`FrameSpec` says
  what to build, :class:`Frame` is the result.
- :func:`check_request` validates a prediction request once for every entry point;
  ``check_symbol``, ``check_number``, ``check_flag``, ``check_path`` and
  ``check_spec_name`` check single arguments of the Python API before any work.
- :class:`WalkForward` gives purged, embargoed walk-forward folds.
- :func:`drawdown_frame` and :func:`support_frame` stack labels and features for frames
  given as DataFrames (the builder uses the latter for support levels).
- :class:`Shock` and :class:`ShockTransform`: what-if changes of inputs, applied in one
  place to built rows; :func:`load_scenarios` reads the presets (``scenarios/``).
"""

from downside.datasets._builder import (
    DRAWDOWN_QUERY,
    SUPPORT_QUERY,
    VOL_INPUTS,
    WARMUP_DAYS,
    Frame,
    FrameSpec,
    build_frame,
    daily_prices,
    daily_spine,
    family_names,
    select_features,
)
from downside.datasets._frames import (
    DRAWDOWN_COLUMNS,
    LABEL_COLUMNS,
    SUPPORT_COLUMNS,
    drawdown_frame,
    labelled,
    support_frame,
)
from downside.datasets._request import (
    Request,
    check_flag,
    check_number,
    check_path,
    check_request,
    check_spec_name,
    check_symbol,
    check_symbols,
)
from downside.datasets._shocks import (
    OPERATIONS,
    PRESET_FILE,
    SPECIAL_INPUTS,
    ScenarioPreset,
    Shock,
    ShockEffect,
    ShockTransform,
    apply_shock,
    check_inputs,
    load_scenarios,
)
from downside.datasets._walkforward import Fold, TrainRule, WalkForward, purge_mask

__all__ = [
    "DRAWDOWN_COLUMNS",
    "DRAWDOWN_QUERY",
    "LABEL_COLUMNS",
    "OPERATIONS",
    "PRESET_FILE",
    "SPECIAL_INPUTS",
    "SUPPORT_COLUMNS",
    "SUPPORT_QUERY",
    "VOL_INPUTS",
    "WARMUP_DAYS",
    "Fold",
    "Frame",
    "FrameSpec",
    "Request",
    "ScenarioPreset",
    "Shock",
    "ShockEffect",
    "ShockTransform",
    "TrainRule",
    "WalkForward",
    "apply_shock",
    "build_frame",
    "check_flag",
    "check_inputs",
    "check_number",
    "check_path",
    "check_request",
    "check_spec_name",
    "check_symbol",
    "check_symbols",
    "daily_prices",
    "daily_spine",
    "drawdown_frame",
    "family_names",
    "labelled",
    "load_scenarios",
    "purge_mask",
    "select_features",
    "support_frame",
]
