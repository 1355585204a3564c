"""`downside train`: fit a spec (:func:`downside.workflows.fit_spec`) under an MLflow run,
log what it produced, register the model; `downside tune`: the study under a run.

What a training run records:

- run name ``train <spec>: <trials> trials, <folds> fold(s)`` and a description
  (``mlflow.note.content``) saying what was fitted, on what, and how it scored;
- tags ``mlflow.source.git.commit`` (when the package runs from a git checkout),
  ``downside_version``, ``definitions_hash``;
- the store it trained on as an MLflow dataset input (one row per raw table: rows, first
  and last event time, last publication time; digest = SHA-256 of that fingerprint and
  the definitions hash; source = the store folder);
- parameters, walk-forward metrics per fold, the feature manifest, the spec, the
  reliability diagram;
- the model (models-from-code, :mod:`downside.tracking._model_code`) with its state,
  the wheel of the running package, pinned requirements
  (:mod:`downside.tracking._environment`), a signature with outputs and the SHA-256 of
  its behaviour files in ``model_config``; on the registered version the SHA-256
  manifest of every model file (:mod:`downside.tracking._integrity`), the fold scores
  and headline metrics.

Interrupted trainings. The model is logged to the run first; its files are then hashed
and the model version is created with all its tags in one registry call, so a version
without its integrity manifest or fold scores never exists, even for a moment (a SIGKILL
leaves either no version or a complete one; aliases come last, so a killed training
never moves them). A killed process cannot end its run: the next training of the spec
marks runs of its experiment left RUNNING by a process of this host that no longer
exists as KILLED (tags ``downside.host`` and ``downside.pid`` say whose they are), with
their nested trial runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

from downside.config import Settings
from downside.datasets import build_frame
from downside.evaluation import reliability_diagram, reliability_table
from downside.features import FeatureStore
from downside.models import ModelSpec, TuningResult
from downside.store import Store
from downside.tracking._client import connect, experiment_id
from downside.tracking._environment import pack_wheel, pip_requirements
from downside.tracking._integrity import (
    CONFIG_KEY,
    MANIFEST_TAG,
    artifact_manifest,
    drop_load_leftovers,
    file_sha256,
)
from downside.tracking._pyfunc import STATE_ARTIFACT, signature
from downside.tracking._registry import FOLDS_TAG, set_aliases_for_new_version
from downside.tracking._trials import MlflowFitLogger
from downside.workflows import FitResult, fit_spec, tune

Progress = Callable[[str], None]
MODEL_CODE = Path(__file__).with_name("_model_code.py")
HOST_TAG = "downside.host"
PID_TAG = "downside.pid"
"""Run tags: the host and process id of the training, to tell a killed run from a live one."""


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


def _git_commit() -> str | None:
    """Commit of the checkout the package runs from; None for an installed wheel."""
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
        return None
    return out.stdout.strip() or None


def _source_tags() -> dict[str, str]:
    commit = _git_commit()
    return {MLFLOW_GIT_COMMIT: commit} if commit else {}


@contextlib.contextmanager
def _no_uv_project() -> Iterator[None]:
    """MLflow copies ``uv.lock`` and ``pyproject.toml`` of the working directory into the
    model and ``--env-manager uv`` then runs ``uv sync`` on them: a project's lock, not
    the model's requirements (it would try to build downside from a source tree that
    is not there). Off while our model is logged."""
    previous = os.environ.get("MLFLOW_UV_AUTO_DETECT")
    os.environ["MLFLOW_UV_AUTO_DETECT"] = "false"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MLFLOW_UV_AUTO_DETECT"]
        else:
            os.environ["MLFLOW_UV_AUTO_DETECT"] = previous


def _log_store(store: Store, definitions_hash: str, n_rows: int) -> None:
    """The data the model was trained on, as an MLflow dataset input of the run."""
    fingerprint = store.fingerprint()
    description = pd.DataFrame(
        [
            {"table": name, **{k: str(v) for k, v in entry.items()}}
            for name, entry in fingerprint.items()
        ]
    )
    digest = hashlib.sha256(
        json.dumps([fingerprint, definitions_hash], sort_keys=True).encode()
    ).hexdigest()[:16]
    with warnings.catch_warnings():
        # MLflow 3.17 registers its local-file dataset source twice and then warns that
        # a path "can be interpreted in multiple ways" (both are the same class)
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways")
        dataset = from_pandas(description, source=str(store.root), name="store", digest=digest)
    mlflow.log_input(dataset, context="training", tags={"training_rows": str(n_rows)})


def _note(fit: FitResult, version: str) -> str:
    """The run's description: what was fitted, on what, how it scored, what it became."""
    spec, tuning, metrics = fit.spec, fit.tuning, fit.metrics
    tuned = (
        f"tuned by Optuna study `{tuning.study_name}` ({tuning.n_complete} complete, "
        f"{tuning.n_pruned} pruned trials)"
        if tuning is not None
        else "not tuned (the spec's fixed parameters)"
    )
    shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("cv_log_loss", "cv_brier") if k in metrics)
    return (
        f"Fit of spec `{spec.name}` ({spec.target}; symbols {', '.join(spec.frame.symbols)}): "
        f"{tuned}; scored on {len(fit.scores)} purged walk-forward fold(s) ({shown}); final "
        f"LightGBM model on {fit.n_rows:,} labelled rows and {fit.n_features} features. "
        f"Registered as `{spec.registered_name}` version {version}."
    )


def _log_tuning(result: TuningResult) -> None:
    mlflow.log_metrics(
        {
            "tuning_best_cv_log_loss": result.best_value,
            "tuning_trials_complete": result.n_complete,
            "tuning_trials_pruned": result.n_pruned,
        }
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _close_interrupted_runs(client: MlflowClient, experiment: str) -> None:
    """Mark runs of ``experiment`` that a process of this host left RUNNING and that no
    longer runs as KILLED, with their nested runs (a SIGKILL leaves them RUNNING)."""
    host = socket.gethostname()
    running = client.search_runs(
        [experiment], f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'"
    )
    for run in running:
        pid = run.data.tags.get(PID_TAG, "")
        if not pid.isdigit() or _alive(int(pid)):
            continue
        children = client.search_runs(
            [experiment],
            f"attributes.status = 'RUNNING' and tags.`{MLFLOW_PARENT_RUN_ID}` = "
            f"'{run.info.run_id}'",
        )
        for stale in [*children, run]:
            client.set_tag(
                stale.info.run_id,
                MLFLOW_RUN_NOTE,
                f"Interrupted: process {pid} on {host} ended without closing this run; "
                "marked KILLED by the next `downside train` of the spec.",
            )
            client.set_terminated(stale.info.run_id, RunStatus.to_string(RunStatus.KILLED))


def _logged_files(client: MlflowClient, model_id: str, dst: Path) -> Path:
    """The files of a logged model, as a model version created from it will store them."""
    location = client.get_logged_model(model_id).artifact_location
    folder = dst / f"logged-{model_id}"
    folder.mkdir(parents=True)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(folder)))


def _version_tags(fit: FitResult, files: str) -> dict[str, str]:
    """Every tag of a new model version: manifest, fold scores, headline metrics."""
    tags = {
        FOLDS_TAG: json.dumps({s.key: round(s.log_loss, 8) for s in fit.scores}),
        MANIFEST_TAG: files,
    }
    for key in ("cv_log_loss", "cv_brier", "brier_skill_vs_gbm_ewma"):
        if key in fit.metrics:
            tag = (
                "downside.brier_skill_vs_vol"
                if key.startswith("brier_skill")
                else f"downside.{key}"
            )
            tags[tag] = f"{fit.metrics[key]:.6f}"
    return tags


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
    _close_interrupted_runs(client, exp)
    fs = FeatureStore.from_settings(settings)
    n_trials = spec.trials if trials is None else trials
    run_name = f"train {spec.name}: {n_trials} trials, {spec.tuning_folds} fold(s)"
    with mlflow.start_run(experiment_id=exp, run_name=run_name) as run:
        run_id = run.info.run_id
        mlflow.set_tags(
            {
                MLFLOW_RUN_NOTE: f"Fitting spec `{spec.name}` (running or interrupted).",
                HOST_TAG: socket.gethostname(),
                PID_TAG: str(os.getpid()),
            }
        )
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
        definitions_hash = str(manifest.get("definitions_hash", ""))
        store = Store.from_settings(settings)
        _log_store(store, definitions_hash, fit.n_rows)
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
                **_source_tags(),
                "downside_version": importlib.metadata.version("downside"),
                "definitions_hash": definitions_hash,
            }
        )
        mlflow.log_dict(manifest, "feature_manifest.json")
        mlflow.log_dict(store.fingerprint(), "data_fingerprint.json")
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
            wheel = pack_wheel(Path(tmp))
            wheel_artifact = f"artifacts/{wheel.name}"
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
            with _no_uv_project():
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(MODEL_CODE),
                    artifacts={"state": str(state_path), "wheel": str(wheel)},
                    model_config={
                        CONFIG_KEY: {
                            MODEL_CODE.name: file_sha256(MODEL_CODE),
                            STATE_ARTIFACT: file_sha256(state_path),
                            wheel_artifact: file_sha256(wheel),
                        }
                    },
                    signature=signature(predictor),
                    input_example=example,
                    pip_requirements=pip_requirements(f"./{wheel_artifact}"),
                )
            stored = _logged_files(client, str(info.model_id), Path(tmp))
            drop_load_leftovers(stored)
            files = json.dumps(artifact_manifest(stored), sort_keys=True)
        # one registry call: the version exists with its manifest and fold scores, or not
        registered = mlflow.register_model(
            info.model_uri, spec.registered_name, tags=_version_tags(fit, files)
        )
        version = str(registered.version)
        aliases = set_aliases_for_new_version(client, spec.registered_name, version)
        mlflow.set_tag(MLFLOW_RUN_NOTE, _note(fit, version))
    return TrainResult(
        spec.name,
        spec.registered_name,
        version,
        aliases,
        run_id,
        fit.params,
        metrics,
        n_trials,
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
    storage = _redact(settings.resolved_optuna_storage)
    run_name = f"tune {spec.name}: {trials} trials, {workers} worker(s)"
    with mlflow.start_run(experiment_id=exp, run_name=run_name) as run:
        mlflow.set_tags(
            {
                **_source_tags(),
                "optuna_storage": storage,
                MLFLOW_RUN_NOTE: (
                    f"Optuna study `downside-{spec.name}` of spec `{spec.name}` in {storage}: "
                    f"{trials} finished trials, {workers} worker process(es), objective = mean "
                    f"log loss over {spec.tuning_folds} purged walk-forward fold(s); one nested "
                    "run per trial."
                ),
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
