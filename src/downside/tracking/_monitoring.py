"""Monitoring runs: the track record and the monitoring checks logged to MLflow.

One run per ``downside evaluate`` (and ``downside monitor`` when asked) in the experiment
:data:`MONITORING_EXPERIMENT`:

- run name ``evaluate <first>..<last>: <n> forecasts``, a description
  (``mlflow.note.content``) with the summary and the monitoring status;
- tags ``downside.models`` (the versions evaluated), ``downside.status``;
- metrics per target and version (``drawdown.all.brier``, ``drawdown.3.skill``, ...);
- rolling metrics stepped by date: ``<target>.rolling.skill`` (and ``.skill_lower``,
  ``.skill_upper``, ``.ece``) with ``step`` = days since 1970-01-01 and ``timestamp`` =
  the window's end date, so MLflow's charts show them over time;
- the drift PSI per input (``drift.<model>.<input>``) and the source ages;
- the report folder as artifacts.

It also reads when a registered model's training data ended (the ``data_fingerprint.json``
its training run logged), which decides whether a replay is out of sample.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pandas as pd
from mlflow.entities import Metric
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

from downside.config import Settings
from downside.errors import TrackingError
from downside.tracking._client import connect, experiment_id
from downside.tracking._load import ModelSource, run_artifact
from downside.vocabulary import US_PER_DAY, to_us, utc

if TYPE_CHECKING:
    from downside.workflows import Evaluation, MonitorReport

MONITORING_EXPERIMENT = "downside-monitoring"
"""Experiment of the monitoring runs."""

_BATCH = 1000
_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


def training_data_end(source: ModelSource, settings: Settings) -> pd.Timestamp | None:
    """When the last daily bar the model's training run saw became known: the
    ``ohlcv_daily`` ``last_available_ts`` of the run's ``data_fingerprint.json``; None
    when the run logged none."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = run_artifact(source, "data_fingerprint.json", Path(tmp) / "fp.json", settings)
            fingerprint = json.loads(path.read_text())
        except (TrackingError, ValueError):
            return None
    last = fingerprint.get("ohlcv_daily", {}).get("last_available_ts")
    return utc(last) if last else None


def _key(*parts: str) -> str:
    return _KEY.sub("_", ".".join(parts))


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(str(value)))
    except ValueError:
        return False


def _metrics(evaluation: Evaluation, report: MonitorReport | None, stamp: int) -> list[Metric]:
    out: list[Metric] = []
    for row in evaluation.summary.to_dict("records"):
        prefix = (str(row["target"]), str(row["model_version"]))
        for name in ("brier", "ece", "event_rate", "mean_forecast", "skill", "skill_lower"):
            if _finite(row[name]):
                out.append(Metric(_key(*prefix, name), float(row[name]), stamp, 0))
        out.append(Metric(_key(*prefix, "forecasts"), float(row["n"]), stamp, 0))
    for row in evaluation.rolling.to_dict("records"):
        date = pd.Timestamp(row["date"])
        step = int(to_us(pd.Series([date]))[0] // US_PER_DAY)
        when = int(date.timestamp() * 1000)
        for name in ("skill", "skill_lower", "skill_upper", "ece", "event_rate", "mean_forecast"):
            if _finite(row[name]):
                out.append(
                    Metric(_key(str(row["target"]), "rolling", name), float(row[name]), when, step)
                )
    if report is not None:
        for row in report.drift.to_dict("records"):
            if _finite(row["psi"]):
                out.append(
                    Metric(
                        _key("drift", str(row["model"]), str(row["input"])),
                        float(row["psi"]),
                        stamp,
                        0,
                    )
                )
        for row in report.sources.to_dict("records"):
            if _finite(row["age_hours"]):
                out.append(
                    Metric(_key("age_hours", str(row["table"])), float(row["age_hours"]), stamp, 0)
                )
        out.append(Metric("alerts", float(len(report.reasons)), stamp, 0))
    return out


def _chunks(items: list[Metric]) -> Iterable[list[Metric]]:
    for i in range(0, len(items), _BATCH):
        yield items[i : i + _BATCH]


def log_monitoring(
    evaluation: Evaluation,
    settings: Settings,
    *,
    report: MonitorReport | None = None,
    folder: Path | None = None,
    models: Iterable[str] = (),
    replayed: str | None = None,
) -> str:
    """Log a monitoring run (see the module docstring); returns its run id.

    Args:
        evaluation: the track record.
        settings: where MLflow is.
        report: the monitoring checks, if run.
        folder: the report folder, logged as artifacts.
        models: the model versions evaluated (``downside-drawdown v3``).
        replayed: what a replay filled in first, for the description.

    Raises:
        TrackingError: MLflow could not log the run.
    """
    client = connect(settings)
    exp = experiment_id(client, settings, MONITORING_EXPERIMENT)
    rows = evaluation.rows
    if rows.empty:
        span = "nothing matured yet"
    else:
        span = f"{rows['asof'].min():%Y-%m-%d}..{rows['asof'].max():%Y-%m-%d}"
    name = f"evaluate {span}: {len(rows):,} forecasts"
    status = "not checked" if report is None else report.status
    summary = "; ".join(
        f"{r['target']} v{r['model_version']}: Brier {float(r['brier']):.4f}, joint skill "
        f"{100 * float(r['skill']):+.1f}% against {r['best_baseline']}"
        for r in evaluation.summary.to_dict("records")
    )
    note = (
        f"Track record of {', '.join(models) or 'the ledger'}: {len(rows):,} matured "
        f"forecasts ({span}), {evaluation.pending:,} open. {summary or 'No scores yet.'} "
        f"Monitoring: {status}."
        + (f" Alerts: {' '.join(report.reasons)}" if report is not None and report.reasons else "")
        + (f" Replay: {replayed}." if replayed else "")
    )
    try:
        with mlflow.start_run(experiment_id=exp, run_name=name) as run:
            mlflow.set_tags(
                {
                    MLFLOW_RUN_NOTE: note,
                    "downside.models": ", ".join(models),
                    "downside.status": status,
                }
            )
            stamp = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
            for chunk in _chunks(_metrics(evaluation, report, stamp)):
                client.log_batch(run.info.run_id, metrics=chunk)
            if folder is not None and folder.is_dir():
                mlflow.log_artifacts(str(folder), "report")
            return str(run.info.run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise TrackingError(f"cannot log the monitoring run to MLflow: {exc}") from exc
