"""Log every Optuna trial as a nested MLflow run under the tuning run.

optuna-integration's MLflowCallback is deprecated; this is the small logger of our own.
It talks to MLflow through a client (no global active run), so it works the same in
every worker process: pickled to a spawned tuning worker it keeps only the settings and
the run ids, and connects again there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from downside.config import Settings
from downside.tracking._client import connect


class TrialLogger:
    """Optuna callback: one nested run per finished trial.

    Args:
        settings: where MLflow is (tracking and registry URIs).
        experiment_id: experiment of the parent run.
        parent_run_id: the tuning run the trial runs nest under.
    """

    def __init__(self, settings: Settings, experiment_id: str, parent_run_id: str) -> None:
        self.settings = settings
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = connect(self.settings)
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{trial.number}",
            tags={
                "mlflow.parentRunId": self.parent_run_id,
                "optuna.study": study.study_name,
                "optuna.trial_number": str(trial.number),
                "optuna.state": trial.state.name,
                "optuna.worker": str(trial.user_attrs.get("worker", "")),
                "optuna.worker_pid": str(trial.user_attrs.get("pid", "")),
            },
        )
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        metrics = [
            Metric("running_log_loss", float(value), now, step)
            for step, value in sorted(trial.intermediate_values.items())
        ]
        if trial.value is not None:
            metrics.append(Metric("cv_log_loss", float(trial.value), now, 0))
        brier = trial.user_attrs.get("brier")
        if brier is not None:
            metrics.append(Metric("cv_brier", float(brier), now, 0))
        # one request for everything: a trial's logging costs three calls, not a dozen
        self.client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(key, str(value)) for key, value in trial.params.items()],
        )
        # optuna counts FAIL as finished too; MLflow should show it failed
        status = "FAILED" if trial.state == TrialState.FAIL else "FINISHED"
        self.client.set_terminated(run_id, status=status)


@dataclass(frozen=True)
class MlflowFitLogger:
    """A :class:`downside.workflows.FitLogger` that logs every tuning trial as a nested
    MLflow run under ``parent_run_id``."""

    settings: Settings
    experiment_id: str
    parent_run_id: str

    def trial_callbacks(self) -> Sequence[TrialLogger]:
        return [TrialLogger(self.settings, self.experiment_id, self.parent_run_id)]
