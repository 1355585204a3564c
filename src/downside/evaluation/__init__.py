"""evaluation layer: scores, calibration diagnostics, bootstrap intervals and reports.

Proper scoring rules (:func:`brier_score`, :func:`log_loss`, :func:`brier_skill`),
calibration diagnostics (:func:`expected_calibration_error`, :func:`reliability_table`,
:func:`reliability_diagram`), input drift (:func:`population_stability`),
block-bootstrap intervals for time-ordered rows, metrics per group (:func:`breakdown`),
the dense-grid monotonicity check of a drawdown surface and the backtest report writer.
No model library is imported here; the plotting and report names are imported on first
use, so scoring (used by the served model's imports) does not load matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from downside.evaluation._bootstrap import BootstrapInterval, block_bootstrap_ci
from downside.evaluation._breakdown import (
    BREAKDOWN_METRICS,
    VOL_REGIME,
    breakdown,
    grid_frame,
    monotonicity_violations,
    volatility_regime,
)
from downside.evaluation._drift import (
    PSI_FLOOR,
    bin_shares,
    population_stability,
    quantile_edges,
    window_psi,
)
from downside.evaluation._metrics import (
    RELIABILITY_COLUMNS,
    brier_score,
    brier_skill,
    expected_calibration_error,
    log_loss,
    reliability_table,
)

if TYPE_CHECKING:
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
    from downside.evaluation._track import rolling_chart

_LAZY = {
    **dict.fromkeys(
        (
            "FAMILY_COLORS",
            "PSI_FLOOR",
            "ReportSection",
            "contribution_bars",
            "drawdown_history",
            "realized_drawdown",
            "support_chart",
            "surface_heatmap",
            "write_html_report",
        ),
        "_plots",
    ),
    **dict.fromkeys(
        ("fold_chart", "reliability_diagram", "skill_chart", "write_backtest_report"), "_report"
    ),
    "rolling_chart": "_track",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BREAKDOWN_METRICS",
    "FAMILY_COLORS",
    "PSI_FLOOR",
    "RELIABILITY_COLUMNS",
    "VOL_REGIME",
    "BootstrapInterval",
    "ReportSection",
    "bin_shares",
    "block_bootstrap_ci",
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
    "population_stability",
    "quantile_edges",
    "realized_drawdown",
    "reliability_diagram",
    "reliability_table",
    "rolling_chart",
    "skill_chart",
    "support_chart",
    "surface_heatmap",
    "volatility_regime",
    "window_psi",
    "write_backtest_report",
    "write_html_report",
]
