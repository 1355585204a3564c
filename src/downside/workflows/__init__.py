"""workflows layer: the jobs a user runs, without MLflow.

- :func:`fit_spec`: tune on purged walk-forward folds, score them with the baselines,
  fit the final model (``downside train``; the tracking layer logs and registers it).
- :func:`run_backtest` and :func:`write_backtest`: out-of-sample skill against the
  baselines over a window (``downside backtest``).
- :func:`run_ablation`: the skill each driver family adds to the volatility base
  (``downside ablation``).
- :func:`risk_report`: the HTML risk page of one symbol (``downside report``).
- The daily loop: :func:`daily_forecast` records the champion's forecasts in the ledger
  (``downside forecast``), :func:`evaluate_ledger` scores the matured ones and
  :func:`replay_rows` fills in past days (``downside evaluate``), :func:`monitor` checks
  drift, staleness and calibration decay (``downside monitor``), and
  :func:`write_track_record` writes the report.

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
from downside.workflows._daily import (
    DailyForecast,
    daily_forecast,
    source_ages,
    source_tables,
    universe,
)
from downside.workflows._evaluate import (
    ALL_VERSIONS,
    ROLLING_COLUMNS,
    SCORE_COLUMNS,
    SUMMARY_COLUMNS,
    Evaluation,
    evaluate_ledger,
    replay_days,
    replay_rows,
)
from downside.workflows._fit import (
    FitLogger,
    FitResult,
    NullLogger,
    fit_spec,
    fold_metrics,
    tune,
)
from downside.workflows._ledger import (
    LEDGER_KEYS,
    ORIGINS,
    LedgerModel,
    cell_id,
    count_by,
    ledger_rows,
    read_ledger,
    record,
)
from downside.workflows._monitor import (
    CALIBRATION_COLUMNS,
    DRIFT_COLUMNS,
    MonitorLimits,
    MonitorReport,
    calibration_table,
    drift_table,
    monitor,
)
from downside.workflows._report import ModelInfo, RiskReport, risk_report
from downside.workflows._track_report import write_track_record

__all__ = [
    "ALL_VERSIONS",
    "CALIBRATION_COLUMNS",
    "DRIFT_COLUMNS",
    "LEDGER_KEYS",
    "ORIGINS",
    "ROLLING_COLUMNS",
    "SCORE_COLUMNS",
    "SUMMARY_COLUMNS",
    "AblationResult",
    "BacktestResult",
    "DailyForecast",
    "Evaluation",
    "FitLogger",
    "FitResult",
    "LedgerModel",
    "ModelInfo",
    "MonitorLimits",
    "MonitorReport",
    "NullLogger",
    "RiskReport",
    "ablation_markdown",
    "calibration_table",
    "cell_id",
    "count_by",
    "daily_forecast",
    "drift_table",
    "evaluate_ledger",
    "fit_spec",
    "fold_metrics",
    "ledger_rows",
    "monitor",
    "read_ledger",
    "record",
    "replay_days",
    "replay_rows",
    "risk_report",
    "run_ablation",
    "run_backtest",
    "source_ages",
    "source_tables",
    "summary_markdown",
    "tune",
    "universe",
    "write_ablation",
    "write_backtest",
    "write_track_record",
]
