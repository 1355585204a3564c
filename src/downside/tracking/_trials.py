"""Log every Optuna trial as a nested MLflow run under the tuning run.

optuna-integration's MLflowCallback is deprecated; this is the small logger of our own.
It talks to MLflow through a client (no global active run), so it works the same in
every worker process.
"""

from __future__ import annotations

import optuna
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial


class TrialLogger:
    """Optuna callback: one nested run per finished trial.

    Args:
        client: MLflow client.
        experiment_id: experiment of the parent run.
        parent_run_id: the tuning run the trial runs nest under.
    """

    def __init__(self, client: MlflowClient, experiment_id: str, parent_run_id: str) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{trial.number}",
            tags={
                "mlflow.parentRunId": self.parent_run_id,
                "optuna.study": study.study_name,
                "optuna.trial_number": str(trial.number),
                "optuna.state": trial.state.name,
            },
        )
        run_id = run.info.run_id
        for key, value in trial.params.items():
            self.client.log_param(run_id, key, value)
        if trial.value is not None:
            self.client.log_metric(run_id, "cv_log_loss", float(trial.value))
        brier = trial.user_attrs.get("brier")
        if brier is not None:
            self.client.log_metric(run_id, "cv_brier", float(brier))
        for step, value in sorted(trial.intermediate_values.items()):
            self.client.log_metric(run_id, "running_log_loss", float(value), step=step)
        status = "FINISHED" if trial.state.is_finished() else "FAILED"
        self.client.set_terminated(run_id, status=status)
