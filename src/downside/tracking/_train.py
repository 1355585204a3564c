"""`downside train`: fit a spec (:func:`downside.workflows.fit_spec`) under an MLflow run,
log what it produced, register the model; `downside tune`: the study under a run."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

import downside
from downside.config import Settings
from downside.datasets import build_frame
from downside.evaluation import reliability_diagram, reliability_table
from downside.features import FeatureStore
from downside.models import ModelSpec, TuningResult
from downside.store import Store
from downside.tracking._client import connect, experiment_id
from downside.tracking._registry import FOLDS_TAG, set_aliases_for_new_version
from downside.tracking._trials import MlflowFitLogger
from downside.workflows import fit_spec, tune

Progress = Callable[[str], None]
MODEL_CODE = Path(__file__).with_name("_model_code.py")


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    spec: str
    registered_model: str
    version: str
    aliases: list[str]
    run_id: str
    params: dict[str, Any]
    metrics: dict[str, float]
    n_trials: int


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    pkgs = (
        "numpy",
        "pandas",
        "pyarrow",
        "duckdb",
        "scikit-learn",
        "lightgbm",
        "mlflow",
        "filelock",
    )
    return [f"{p}=={version(p)}" for p in pkgs]


def _signature(target: str) -> ModelSignature:
    inputs = Schema(
        [
            ColSpec("string", "symbol"),
            ColSpec("string", "asof", required=False),
            ColSpec("double", "threshold" if target == "drawdown" else "level", required=False),
            ColSpec("double", "horizon_days", required=False),
        ]
    )
    return ModelSignature(inputs=inputs)


def _log_tuning(result: TuningResult) -> None:
    mlflow.log_metrics(
        {
            "tuning_best_cv_log_loss": result.best_value,
            "tuning_trials_complete": result.n_complete,
            "tuning_trials_pruned": result.n_pruned,
        }
    )


def train(
    spec: ModelSpec,
    settings: Settings,
    *,
    trials: int | None = None,
    workers: int = 1,
    timeout_s: float | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Fit a spec (:func:`downside.workflows.fit_spec`) under an MLflow run, log what it
    produced and register the model.

    Raises:
        InsufficientHistoryError: the store has too little data for the spec's walk-forward.
        TrackingError: MLflow could not log or register the model, or a tuning worker died.
    """
    say = progress or (lambda _msg: None)
    client = connect(settings)
    exp = experiment_id(client, settings, spec.registered_name)
    fs = FeatureStore.from_settings(settings)
    with mlflow.start_run(experiment_id=exp, run_name=f"train-{spec.name}") as run:
        run_id = run.info.run_id
        fit = fit_spec(
            spec,
            fs,
            settings,
            trials=trials,
            workers=workers,
            timeout_s=timeout_s,
            logger=MlflowFitLogger(settings, exp, run_id),
            progress=say,
        )
        if fit.tuning is not None:
            _log_tuning(fit.tuning)
        predictor, scores, preds, metrics = fit.predictor, fit.scores, fit.predictions, fit.metrics
        manifest = fs.manifest()
        fingerprint = Store.from_settings(settings).fingerprint()
        mlflow.log_params(
            {
                **spec.model_params,
                **fit.params,
                "spec": spec.name,
                "target": spec.target,
                "n_features": fit.n_features,
                "n_rows": fit.n_rows,
            }
        )
        mlflow.log_metrics(metrics)
        for s in scores:
            mlflow.log_metrics({"fold_log_loss": s.log_loss, "fold_brier": s.brier}, step=s.index)
        mlflow.set_tags(
            {
                "git_commit": _git_commit(),
                "downside_version": downside.__version__,
                "definitions_hash": str(manifest.get("definitions_hash", "")),
            }
        )
        mlflow.log_dict(manifest, "feature_manifest.json")
        mlflow.log_dict(fingerprint, "data_fingerprint.json")
        mlflow.log_dict(
            {
                s.key: {
                    "log_loss": s.log_loss,
                    "brier": s.brier,
                    "n_train": s.n_train,
                    "n_test": s.n_test,
                }
                for s in scores
            },
            "walk_forward/folds.json",
        )
        mlflow.log_text(predictor.spec_text, f"spec/{spec.name}.toml")
        with tempfile.TemporaryDirectory() as tmp:
            tables = {
                c[2:]: reliability_table(preds[c].to_numpy(), preds["label"].to_numpy(), 10)
                for c in preds.columns
                if c.startswith("p_")
            }
            plot = Path(tmp) / "reliability.png"
            reliability_diagram(tables, plot)
            mlflow.log_artifact(str(plot), "plots")
            state_path = Path(tmp) / "state.json"
            state_path.write_text(json.dumps(predictor.to_state()), encoding="utf-8")
            say("logging the pyfunc model and registering it")
            example = pd.DataFrame(
                {
                    "symbol": [spec.frame.symbols[0]],
                    "asof": [""],
                    spec.frame.cell_column: [None],
                    "horizon_days": [None],
                }
            )
            # mlflow compares the column index with range(); a pandas 3 string index
            # makes that a deprecated list-like comparison, an object index does not
            example.columns = pd.Index(list(example.columns), dtype=object)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(MODEL_CODE),
                artifacts={"state": str(state_path)},
                signature=_signature(spec.target),
                input_example=example,
                pip_requirements=_pip_requirements(),
                registered_model_name=spec.registered_name,
            )
        version = str(info.registered_model_version)
        fold_tag = json.dumps({s.key: round(s.log_loss, 8) for s in scores})
        client.set_model_version_tag(spec.registered_name, version, FOLDS_TAG, fold_tag)
        for key in ("cv_log_loss", "cv_brier", "brier_skill_vs_gbm_ewma"):
            if key in metrics:
                tag = (
                    "downside.brier_skill_vs_vol"
                    if key.startswith("brier_skill")
                    else f"downside.{key}"
                )
                client.set_model_version_tag(
                    spec.registered_name, version, tag, f"{metrics[key]:.6f}"
                )
        client.set_model_version_tag(
            spec.registered_name,
            version,
            "downside.state_sha256",
            hashlib.sha256(json.dumps(predictor.to_state()).encode()).hexdigest(),
        )
        aliases = set_aliases_for_new_version(client, spec.registered_name, version)
    return TrainResult(
        spec.name,
        spec.registered_name,
        version,
        aliases,
        run_id,
        fit.params,
        metrics,
        spec.trials if trials is None else trials,
    )


def tune_spec(
    spec: ModelSpec,
    settings: Settings,
    *,
    trials: int,
    workers: int = 1,
    timeout_s: float | None = None,
) -> TuningResult:
    """`downside tune`: run the spec's study under a parent MLflow run, one nested run per trial."""
    client = connect(settings)
    exp = experiment_id(client, settings, spec.registered_name)
    data = build_frame(spec.frame, FeatureStore.from_settings(settings))
    with mlflow.start_run(experiment_id=exp, run_name=f"tune-{spec.name}") as run:
        mlflow.set_tags(
            {
                "git_commit": _git_commit(),
                "optuna_storage": _redact(settings.resolved_optuna_storage),
            }
        )
        result = tune(
            spec,
            data,
            settings,
            trials=trials,
            workers=workers,
            timeout_s=timeout_s,
            logger=MlflowFitLogger(settings, exp, run.info.run_id),
        )
        _log_tuning(result)
    return result


def _redact(url: str) -> str:
    """A storage URL without its password, for logging."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, creds = head.partition("://")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"
