"""``fit_spec``: tune, score purged walk-forward folds, fit the final model.

The job behind ``downside train`` and :func:`downside.api.fit`. It runs without MLflow:
what happens is reported through a :class:`FitLogger` passed in (the tracking layer
passes one that logs every tuning trial as a nested MLflow run), and the result holds
everything a tracker logs afterwards (parameters, fold scores, out-of-sample
predictions with the baselines, metrics, the fitted :class:`~downside.models.Predictor`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from downside.config import Settings
from downside.datasets import Frame, build_frame
from downside.errors import TrackingError
from downside.evaluation import brier_score, brier_skill, log_loss
from downside.features import FeatureStore
from downside.models import (
    DrawdownSurface,
    FoldScore,
    ModelSpec,
    Predictor,
    SupportBreakModel,
    TuningResult,
    close_study,
    fit_final,
    make_model,
    run_worker,
    summarize,
    walk_forward,
)
from downside.models._distributed import TrainingPart, fit_dask, training_part
from downside.workflows._engine import (
    DaskEngine,
    Engine,
    FeatureStoreRef,
    building_on,
    connect,
    current_engine,
)

Progress = Callable[[str], None]
TrialCallback = Callable[..., None]
"""An Optuna trial callback ``(study, frozen_trial) -> None``."""


class FitLogger(Protocol):
    """What :func:`fit_spec` reports while it runs."""

    def trial_callbacks(self) -> Sequence[TrialCallback]:
        """Optuna callbacks run after every tuning trial, in every worker process (they
        are pickled to spawned workers)."""
        ...


@dataclass(frozen=True)
class NullLogger:
    """Reports nothing."""

    def trial_callbacks(self) -> Sequence[TrialCallback]:
        return ()


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit_spec` produced.

    Attributes:
        spec: the spec fitted.
        predictor: the final model, fitted on every labelled row, ready to answer.
        params: tuned parameters over the spec's (empty without tuning).
        tuning: the study's summary, None without tuning.
        scores: out-of-sample scores of the last ``spec.tuning_folds`` folds.
        predictions: their out-of-sample rows: keys, ``label``, ``p_model`` and
            ``p_<baseline>``.
        metrics: cross-validated and pooled out-of-sample scores, skill against every
            baseline.
        n_rows: labelled rows the final model was fitted on.
        n_features: feature columns among its inputs.
    """

    spec: ModelSpec
    predictor: Predictor
    params: dict[str, Any]
    tuning: TuningResult | None
    scores: list[FoldScore]
    predictions: pd.DataFrame = field(repr=False)
    metrics: dict[str, float]
    n_rows: int
    n_features: int


def fold_metrics(scores: Sequence[FoldScore]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Pooled out-of-sample predictions of the folds and their metrics."""
    preds = pd.concat([s.predictions for s in scores], ignore_index=True)
    y = preds["label"].to_numpy()
    p = preds["p_model"].to_numpy()
    metrics = {
        "cv_log_loss": float(np.mean([s.log_loss for s in scores])),
        "cv_brier": float(np.mean([s.brier for s in scores])),
        "oos_brier": float(brier_score(p, y)),
        "oos_log_loss": float(log_loss(p, y)),
    }
    for col in [c for c in preds.columns if c.startswith("p_") and c != "p_model"]:
        name = col[2:]
        metrics[f"oos_brier_{name}"] = float(brier_score(preds[col].to_numpy(), y))
        metrics[f"brier_skill_vs_{name}"] = float(brier_skill(p, preds[col].to_numpy(), y))
    return preds, metrics


def _worker_main(
    spec: ModelSpec,
    settings: Settings,
    budget: int,
    worker: int,
    callbacks: Sequence[TrialCallback],
    timeout_s: float | None,
) -> None:
    data = build_frame(spec.frame, FeatureStore.from_settings(settings))
    study = run_worker(
        spec,
        data,
        settings.resolved_optuna_storage,
        budget=budget,
        timeout_s=timeout_s,
        worker=worker,
        callbacks=callbacks,
        heartbeat_interval=settings.optuna_heartbeat_s,
        grace_period=settings.optuna_grace_s,
    )
    close_study(study)


def tune(
    spec: ModelSpec,
    data: Frame,
    settings: Settings,
    *,
    trials: int,
    workers: int = 1,
    timeout_s: float | None = None,
    logger: FitLogger | None = None,
) -> TuningResult:
    """Run the spec's study in ``settings.resolved_optuna_storage`` to ``trials``
    finished trials with ``workers`` processes (worker 0 is this one; the others are
    spawned and build their frame from the store of ``settings``).

    Returns the study's summary (it may already hold trials from earlier runs or other
    machines: the budget counts them).

    Raises:
        TrackingError: a worker process died; the study keeps every finished trial.
    """
    callbacks = list((logger or NullLogger()).trial_callbacks())
    procs = []
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(target=_worker_main, args=(spec, settings, trials, w, callbacks, timeout_s))
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
        callbacks=callbacks,
        heartbeat_interval=settings.optuna_heartbeat_s,
        grace_period=settings.optuna_grace_s,
    )
    for proc in procs:
        proc.join()
    failed = {w: p.exitcode for w, p in enumerate(procs, start=1) if p.exitcode != 0}
    result = summarize(study)
    close_study(study)
    if failed:
        raise TrackingError(
            f"tuning worker process(es) exited abnormally (worker: exit code) {failed}; "
            "their traceback is printed above; the study keeps every finished trial, "
            "so rerun the same command to complete the budget"
        )
    return result


@dataclass(frozen=True)
class _FinalFit:
    """The final fit as a task for a worker: it opens the feature store by folder,
    builds the same rows and fits the same model (same parameters and seed)."""

    spec: ModelSpec
    store: FeatureStoreRef
    params: Mapping[str, Any]

    def __call__(self, _: int) -> DrawdownSurface | SupportBreakModel:
        data = build_frame(self.spec.frame, self.store.open())
        return fit_final(self.spec, data, self.params)


@dataclass(frozen=True)
class _TrainingRows:
    """One row partition of a distributed final fit, built on a worker: the labelled
    rows of some symbols, as LightGBM's inputs (see :func:`_fit_distributed`)."""

    spec: ModelSpec
    store: FeatureStoreRef
    params: Mapping[str, Any]

    def __call__(self, symbols: tuple[str, ...]) -> TrainingPart:
        data = build_frame(self.spec.frame, self.store.open(), symbols=symbols)
        rows = data.labelled
        model = make_model(self.spec, self.params)
        return training_part(model, rows[list(data.input_columns)], rows["label"].to_numpy())


def _fit_distributed(
    spec: ModelSpec, feature_store: FeatureStore, params: Mapping[str, Any], engine: DaskEngine
) -> DrawdownSurface | SupportBreakModel:
    """The final fit as one LightGBM booster trained across the cluster's workers
    (``[model] distributed = true``): a partition of rows per symbol built on the
    workers and left there, then :func:`~downside.models._distributed.fit_dask`."""
    symbols = dict.fromkeys((*spec.frame.symbols, *spec.frame.pool_symbols))
    task = _TrainingRows(spec, FeatureStoreRef.of(feature_store), params)
    parts = engine.persist(task, [(s,) for s in symbols], label="training-rows")
    try:
        model = fit_dask(make_model(spec, params), engine.client, parts)
    finally:
        for part in parts:
            part.release()
    return model


def _engine(engine: Engine | None, settings: Settings) -> contextlib.AbstractContextManager[Engine]:
    """``engine``, else the current one, else ``settings.cluster``'s, else local."""
    given = engine if engine is not None else current_engine()
    return contextlib.nullcontext(given) if given is not None else connect(settings.cluster)


def fit_spec(
    spec: ModelSpec,
    feature_store: FeatureStore,
    settings: Settings,
    *,
    trials: int | None = None,
    workers: int = 1,
    timeout_s: float | None = None,
    logger: FitLogger | None = None,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> FitResult:
    """Tune (if ``trials`` > 0), score the last ``spec.tuning_folds`` purged folds with
    the baselines, and fit the final model on every labelled row.

    Args:
        spec: the model spec.
        feature_store: where the rows are built from.
        settings: Optuna storage and heartbeats (and the store spawned tuning workers
            read).
        trials: finished trials the study should reach (default: the spec's budget;
            0: no tuning, the spec's parameters).
        workers: tuning processes.
        timeout_s: tuning time limit.
        logger: sees every tuning trial (default: nothing is logged).
        progress: receives a line per step.
        engine: where a missing feature build and the final fit run (default: the
            current engine, else the cluster of ``settings.cluster``, else this
            process); the fitted model is the same either way, except with
            ``spec.distributed`` on a cluster: then one booster is trained across the
            workers by LightGBM's Dask estimator (close to, not identical to, the
            local one).

    Raises:
        InsufficientHistoryError: the store has too little data for the walk-forward.
        ModelSpecError: unknown features or families in the spec.
        TrackingError: a tuning worker died.
    """
    with _engine(engine, settings) as run, building_on(feature_store, run):
        return _fit_spec(
            spec,
            feature_store,
            settings,
            run,
            trials=trials,
            workers=workers,
            timeout_s=timeout_s,
            logger=logger,
            progress=progress,
        )


def _fit_spec(
    spec: ModelSpec,
    feature_store: FeatureStore,
    settings: Settings,
    engine: Engine,
    *,
    trials: int | None,
    workers: int,
    timeout_s: float | None,
    logger: FitLogger | None,
    progress: Progress | None,
) -> FitResult:
    say = progress or (lambda _msg: None)
    n_trials = spec.trials if trials is None else trials
    say(f"building the {spec.name} training frame")
    data = build_frame(spec.frame, feature_store)
    params: dict[str, Any] = {}
    tuning = None
    if n_trials > 0:
        say(f"tuning: {n_trials} trials, {workers} worker(s)")
        tuning = tune(
            spec,
            data,
            settings,
            trials=n_trials,
            workers=workers,
            timeout_s=timeout_s,
            logger=logger,
        )
        params = dict(tuning.best_params)
    say("scoring purged walk-forward folds with baselines")
    scores = walk_forward(spec, data, params, last=spec.tuning_folds, baselines=True)
    predictions, metrics = fold_metrics(scores)
    say("fitting the final model on all labelled rows")
    if engine.is_local:
        model = fit_final(spec, data, params)
    elif spec.distributed and isinstance(engine, DaskEngine):
        model = _fit_distributed(spec, feature_store, params, engine)
    else:
        task = _FinalFit(spec, FeatureStoreRef.of(feature_store), params)
        model = engine.map(task, [0], label="final-fit")[0]
    spec_text = spec.path.read_text(encoding="utf-8") if spec.path else ""
    return FitResult(
        spec=spec,
        predictor=Predictor.from_frame(spec, spec_text, model, data),
        params=params,
        tuning=tuning,
        scores=scores,
        predictions=predictions,
        metrics=metrics,
        n_rows=len(data.labelled),
        n_features=len(data.feature_columns),
    )
