"""evaluation layer: scores, calibration diagnostics, bootstrap intervals and reports.

Proper scoring rules (:func:`brier_score`, :func:`log_loss`, :func:`brier_skill`),
calibration diagnostics (:func:`expected_calibration_error`, :func:`reliability_table`,
:func:`reliability_diagram`), block-bootstrap intervals for time-ordered rows, metrics
per group (:func:`breakdown`), the dense-grid monotonicity check of a drawdown surface
and the backtest report writer. No model library is imported here.
"""

from downside.evaluation._bootstrap import BootstrapInterval, block_bootstrap_ci, block_indices
from downside.evaluation._breakdown import (
    BREAKDOWN_METRICS,
    VOL_REGIME,
    breakdown,
    grid_frame,
    monotonicity_violations,
    volatility_regime,
)
from downside.evaluation._metrics import (
    RELIABILITY_COLUMNS,
    brier_score,
    brier_skill,
    expected_calibration_error,
    log_loss,
    reliability_table,
)
from downside.evaluation._plots import (
    FAMILY_COLORS,
    ReportSection,
    contribution_bars,
    drawdown_history,
    realized_drawdown,
    support_chart,
    surface_heatmap,
    write_html_report,
)
from downside.evaluation._report import (
    fold_chart,
    reliability_diagram,
    skill_chart,
    write_backtest_report,
)

__all__ = [
    "BREAKDOWN_METRICS",
    "FAMILY_COLORS",
    "RELIABILITY_COLUMNS",
    "VOL_REGIME",
    "BootstrapInterval",
    "ReportSection",
    "block_bootstrap_ci",
    "block_indices",
    "breakdown",
    "brier_score",
    "brier_skill",
    "contribution_bars",
    "drawdown_history",
    "expected_calibration_error",
    "fold_chart",
    "grid_frame",
    "log_loss",
    "monotonicity_violations",
    "realized_drawdown",
    "reliability_diagram",
    "reliability_table",
    "skill_chart",
    "support_chart",
    "surface_heatmap",
    "volatility_regime",
    "write_backtest_report",
    "write_html_report",
]
