"""MLflow connection: tracking and registry URIs from settings, one experiment per spec."""

from __future__ import annotations

import os

import mlflow
from mlflow.tracking import MlflowClient

from downside.config import Settings

_QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured tracking and registry URIs.

    With the defaults both are a SQLite database under ``$DOWNSIDE_HOME``; any MLflow
    tracking URI (``http://127.0.0.1:5000``, ``postgresql://...``) works.
    """
    for key, value in _QUIET.items():
        os.environ.setdefault(key, value)
    settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    mlflow.set_registry_uri(settings.resolved_registry_uri)
    return MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)


def experiment_id(client: MlflowClient, settings: Settings, name: str) -> str:
    """Id of the experiment ``name``, created with artifacts under ``$DOWNSIDE_HOME``
    when the tracking store is local."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    local = settings.tracking_uri is None
    return str(
        client.create_experiment(
            name, artifact_location=settings.artifact_location if local else None
        )
    )
