"""`downside train`: tune, score on purged walk-forward folds, fit, log, register."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

import downside
from downside.config import Settings
from downside.errors import TrackingError
from downside.evaluation import (
    brier_score,
    brier_skill,
    log_loss,
    reliability_diagram,
    reliability_table,
)
from downside.features import FeatureStore
from downside.models import (
    FoldScore,
    ModelSpec,
    Predictor,
    TrainingData,
    TuningResult,
    assemble,
    close_study,
    fit_final,
    open_study,
    run_worker,
    summarize,
    walk_forward,
)
from downside.store import Store
from downside.tracking._client import connect, experiment_id
from downside.tracking._registry import FOLDS_TAG, set_aliases_for_new_version
from downside.tracking._trials import TrialLogger

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


def _worker_main(
    spec: ModelSpec,
    settings: Settings,
    budget: int,
    worker: int,
    parent_run_id: str,
    timeout_s: float | None,
) -> None:
    client = connect(settings)
    exp = experiment_id(client, settings, spec.registered_name)
    data = assemble(spec, FeatureStore.from_settings(settings))
    study = run_worker(
        spec,
        data,
        settings.resolved_optuna_storage,
        budget=budget,
        timeout_s=timeout_s,
        worker=worker,
        callbacks=[TrialLogger(client, exp, parent_run_id)],
        heartbeat_interval=settings.optuna_heartbeat_s,
        grace_period=settings.optuna_grace_s,
    )
    close_study(study)


def tune(
    spec: ModelSpec,
    settings: Settings,
    data: TrainingData,
    *,
    trials: int,
    workers: int = 1,
    timeout_s: float | None = None,
    parent_run_id: str,
) -> dict[str, Any]:
    """Run the spec's study to ``trials`` finished trials with ``workers`` processes.

    Returns the best parameters found so far (the study may already hold trials from
    earlier runs or other machines).
    """
    client = connect(settings)
    exp = experiment_id(client, settings, spec.registered_name)
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(
                target=_worker_main, args=(spec, settings, trials, w, parent_run_id, timeout_s)
            )
            for w in range(1, workers)
        ]
        for proc in procs:
            proc.start()
    study = run_worker(
        spec,
        data,
        settings.resolved_optuna_storage,
        budget=trials,
        timeout_s=timeout_s,
        worker=0,
        callbacks=[TrialLogger(client, exp, parent_run_id)],
        heartbeat_interval=settings.optuna_heartbeat_s,
        grace_period=settings.optuna_grace_s,
    )
    if workers > 1:
        for proc in procs:
            proc.join()
        failed = {w: p.exitcode for w, p in enumerate(procs, start=1) if p.exitcode != 0}
        if failed:
            raise TrackingError(
                f"tuning worker process(es) exited abnormally (worker: exit code) {failed}; "
                "their traceback is printed above; the study keeps every finished trial, "
                "so rerun the same command to complete the budget"
            )
    result = summarize(study)
    close_study(study)
    mlflow.log_metrics(
        {
            "tuning_best_cv_log_loss": result.best_value,
            "tuning_trials_complete": result.n_complete,
            "tuning_trials_pruned": result.n_pruned,
        }
    )
    return result.best_params


def _fold_metrics(scores: list[FoldScore]) -> tuple[pd.DataFrame, dict[str, float]]:
    preds = pd.concat([s.predictions for s in scores], ignore_index=True)
    y = preds["label"].to_numpy()
    metrics = {
        "cv_log_loss": float(np.mean([s.log_loss for s in scores])),
        "cv_brier": float(np.mean([s.brier for s in scores])),
        "oos_brier": float(brier_score(preds["p_model"].to_numpy(), y)),
        "oos_log_loss": float(log_loss(preds["p_model"].to_numpy(), y)),
    }
    for col in [c for c in preds.columns if c.startswith("p_") and c != "p_model"]:
        name = col[2:]
        metrics[f"oos_brier_{name}"] = float(brier_score(preds[col].to_numpy(), y))
        metrics[f"brier_skill_vs_{name}"] = float(
            brier_skill(preds["p_model"].to_numpy(), preds[col].to_numpy(), y)
        )
    return preds, metrics


def train(
    spec: ModelSpec,
    settings: Settings,
    *,
    trials: int | None = None,
    workers: int = 1,
    timeout_s: float | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Tune (if ``trials`` > 0), score, fit, log and register a model for ``spec``.

    Raises:
        EmptyStoreError: the store has too little data for the spec's walk-forward.
        TrackingError: MLflow could not log or register the model.
    """
    say = progress or (lambda _msg: None)
    n_trials = spec.trials if trials is None else trials
    client = connect(settings)
    exp = experiment_id(client, settings, spec.registered_name)
    fs = FeatureStore.from_settings(settings)
    say(f"assembling {spec.name} training frame")
    data = assemble(spec, fs)
    with mlflow.start_run(experiment_id=exp, run_name=f"train-{spec.name}") as run:
        run_id = run.info.run_id
        params: dict[str, Any] = {}
        if n_trials > 0:
            say(f"tuning: {n_trials} trials, {workers} worker(s)")
            params = tune(
                spec,
                settings,
                data,
                trials=n_trials,
                workers=workers,
                timeout_s=timeout_s,
                parent_run_id=run_id,
            )
        say("scoring purged walk-forward folds with baselines")
        scores = walk_forward(spec, data, params, last=spec.tuning_folds, baselines=True)
        preds, metrics = _fold_metrics(scores)
        say("fitting the final model on all labelled rows")
        model = fit_final(spec, data, params)
        spec_text = spec.path.read_text(encoding="utf-8") if spec.path else ""
        predictor = Predictor(spec, spec_text, model, data.input_columns, data.families)
        manifest = fs.manifest()
        fingerprint = Store.from_settings(settings).fingerprint()
        mlflow.log_params(
            {
                **spec.model_params,
                **params,
                "spec": spec.name,
                "target": spec.target,
                "n_features": len(data.feature_columns),
                "n_rows": len(data.labelled),
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
        mlflow.log_text(spec_text, f"spec/{spec.name}.toml")
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
                    "symbol": [spec.symbols[0]],
                    "asof": [""],
                    ("threshold" if spec.target == "drawdown" else "level"): [None],
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
                code_paths=[str(Path(downside.__file__).parent)],
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
        spec.name, spec.registered_name, version, aliases, run_id, params, metrics, n_trials
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
    data = assemble(spec, FeatureStore.from_settings(settings))
    with mlflow.start_run(experiment_id=exp, run_name=f"tune-{spec.name}") as run:
        mlflow.set_tags(
            {
                "git_commit": _git_commit(),
                "optuna_storage": _redact(settings.resolved_optuna_storage),
            }
        )
        tune(
            spec,
            settings,
            data,
            trials=trials,
            workers=workers,
            timeout_s=timeout_s,
            parent_run_id=run.info.run_id,
        )
    study = open_study(spec, settings.resolved_optuna_storage)
    try:
        return summarize(study)
    finally:
        close_study(study)


def _redact(url: str) -> str:
    """A storage URL without its password, for logging."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, creds = head.partition("://")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"
