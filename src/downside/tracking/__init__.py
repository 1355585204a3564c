"""Tracking: MLflow runs, nested trial runs, registry, aliases and the pyfunc model.

The only layer that imports mlflow.
"""

from downside.tracking._client import connect, experiment_id
from downside.tracking._load import ModelSource, load_predictor, resolve_model, run_artifact
from downside.tracking._pyfunc import DownsideModel, answer
from downside.tracking._registry import (
    CHALLENGER,
    CHAMPION,
    Promotion,
    fold_scores,
    list_versions,
    promote,
)
from downside.tracking._train import TrainResult, tune_spec
from downside.tracking._train import train as train_spec
from downside.tracking._trials import MlflowFitLogger, TrialLogger

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DownsideModel",
    "MlflowFitLogger",
    "ModelSource",
    "Promotion",
    "TrainResult",
    "TrialLogger",
    "answer",
    "connect",
    "experiment_id",
    "fold_scores",
    "list_versions",
    "load_predictor",
    "promote",
    "resolve_model",
    "run_artifact",
    "train_spec",
    "tune_spec",
]
