"""targets layer: first-passage labels, causal volatility and support levels.

Everything here works on plain DataFrames (the price frame of ``Store.prices`` and
``symbol, asof`` spines), uses only data known at each as-of time for anything that is
an input, and looks into ``(asof, asof + H]`` only for labels.
"""

from downside.targets._labels import (
    DEFAULT_BREAK_RULE,
    DEFAULT_HORIZONS_DAYS,
    DEFAULT_THRESHOLDS,
    BreakRule,
    drawdown_labels,
    support_break_labels,
)
from downside.targets._supports import (
    DEFAULT_SUPPORT_CONFIG,
    DETECTORS,
    LEVEL_COLUMNS,
    SupportConfig,
    detect_supports,
    level_features,
    round_step,
)
from downside.targets._validate import Freq, check_keys
from downside.targets._volatility import (
    MIN_VOL_BARS,
    RISKMETRICS_LAMBDA,
    reference,
    volatility,
)

__all__ = [
    "DEFAULT_BREAK_RULE",
    "DEFAULT_HORIZONS_DAYS",
    "DEFAULT_SUPPORT_CONFIG",
    "DEFAULT_THRESHOLDS",
    "DETECTORS",
    "LEVEL_COLUMNS",
    "MIN_VOL_BARS",
    "RISKMETRICS_LAMBDA",
    "BreakRule",
    "Freq",
    "SupportConfig",
    "check_keys",
    "detect_supports",
    "drawdown_labels",
    "level_features",
    "reference",
    "round_step",
    "support_break_labels",
    "volatility",
]
