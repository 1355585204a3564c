"""workflows layer: the jobs a user runs, without MLflow.

- :func:`fit_spec`: tune on purged walk-forward folds, score them with the baselines,
  fit the final model (``downside train``; the tracking layer logs and registers it).
- :func:`run_backtest` and :func:`write_backtest`: out-of-sample skill against the
  baselines over a window (``downside backtest``).
- :func:`run_ablation`: the skill each driver family adds to the volatility base
  (``downside ablation``).
- :func:`risk_report`: the HTML risk page of one symbol (``downside report``).

Tracking observes these jobs through loggers passed in (:class:`FitLogger`); it is
never imported here.
"""

from downside.workflows._ablation import (
    AblationResult,
    ablation_markdown,
    run_ablation,
    write_ablation,
)
from downside.workflows._backtest import (
    BacktestResult,
    run_backtest,
    summary_markdown,
    write_backtest,
)
from downside.workflows._fit import (
    FitLogger,
    FitResult,
    NullLogger,
    fit_spec,
    fold_metrics,
    tune,
)
from downside.workflows._report import ModelInfo, RiskReport, risk_report

__all__ = [
    "AblationResult",
    "BacktestResult",
    "FitLogger",
    "FitResult",
    "ModelInfo",
    "NullLogger",
    "RiskReport",
    "ablation_markdown",
    "fit_spec",
    "fold_metrics",
    "risk_report",
    "run_ablation",
    "run_backtest",
    "summary_markdown",
    "tune",
    "write_ablation",
    "write_backtest",
]
