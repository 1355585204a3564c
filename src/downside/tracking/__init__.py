"""Tracking: MLflow runs, nested trial runs, registry, aliases and the pyfunc model.

The only layer that imports mlflow.

Training and tuning (``train_spec``, ``tune_spec``, the trial loggers) and the
monitoring runs (``log_monitoring``, ``training_data_end``) are imported on first use:
they pull in Optuna and the workflows, which the served model
(:mod:`downside.tracking._pyfunc`, imported through this package) must not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from downside.tracking._client import connect, experiment_id
from downside.tracking._integrity import artifact_manifest, verify_model_dir
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

if TYPE_CHECKING:
    from downside.tracking._monitoring import (
        MONITORING_EXPERIMENT,
        log_monitoring,
        training_data_end,
    )
    from downside.tracking._train import TrainResult, tune_spec
    from downside.tracking._train import train as train_spec
    from downside.tracking._trials import MlflowFitLogger, TrialLogger

_LAZY = {
    "MONITORING_EXPERIMENT": ("_monitoring", "MONITORING_EXPERIMENT"),
    "log_monitoring": ("_monitoring", "log_monitoring"),
    "training_data_end": ("_monitoring", "training_data_end"),
    "TrainResult": ("_train", "TrainResult"),
    "tune_spec": ("_train", "tune_spec"),
    "train_spec": ("_train", "train"),
    "MlflowFitLogger": ("_trials", "MlflowFitLogger"),
    "TrialLogger": ("_trials", "TrialLogger"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "MONITORING_EXPERIMENT",
    "DownsideModel",
    "MlflowFitLogger",
    "ModelSource",
    "Promotion",
    "TrainResult",
    "TrialLogger",
    "answer",
    "artifact_manifest",
    "connect",
    "experiment_id",
    "fold_scores",
    "list_versions",
    "load_predictor",
    "log_monitoring",
    "promote",
    "resolve_model",
    "run_artifact",
    "train_spec",
    "training_data_end",
    "tune_spec",
    "verify_model_dir",
]
