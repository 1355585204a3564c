"""Tuning: one Optuna study per spec, objective = mean walk-forward log loss.

The study lives in the configured storage (SQLite by default, PostgreSQL for many
workers). Several processes, here or on other machines, join the same study by name.
Interrupted studies resume: a heartbeat marks trials of dead workers FAILED after a
grace period and :class:`optuna.storages.RetryHeartbeatStaleTrialCallback` re-queues their
parameters, so no trial is lost, none stays RUNNING, and the budget counts finished
(complete or pruned) trials only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from downside.models._pipeline import FoldScore, TrainingData, walk_forward
from downside.models._search import search_space
from downside.models._spec import ModelSpec

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
optuna.logging.set_verbosity(optuna.logging.WARNING)
TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


@dataclass(frozen=True)
class TuningResult:
    """Outcome of a tuning run."""

    study_name: str
    best_params: dict[str, Any]
    best_value: float
    n_complete: int
    n_pruned: int
    n_failed: int


def study_name(spec: ModelSpec) -> str:
    return f"downside-{spec.name}"


def open_study(
    spec: ModelSpec,
    storage_url: str,
    *,
    worker: int = 0,
    heartbeat_interval: int = 10,
    grace_period: int = 30,
) -> optuna.Study:
    """Create or join the spec's study.

    Each worker seeds its sampler with ``spec.tuning_seed + worker`` so that workers
    propose different parameters while each run stays reproducible.
    """
    with warnings.catch_warnings():
        # heartbeats are marked experimental in Optuna 5 but are its only mechanism for
        # reclaiming trials of dead workers
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RDBStorage(
            storage_url,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
            engine_kwargs={"pool_pre_ping": True},
        )
    sampler = optuna.samplers.TPESampler(seed=spec.tuning_seed + worker, n_startup_trials=5)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    return optuna.create_study(
        storage=storage,
        study_name=study_name(spec),
        direction="minimize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def make_objective(
    spec: ModelSpec,
    data: TrainingData,
    *,
    base_params: Mapping[str, Any] | None = None,
    n_folds: int | None = None,
) -> Callable[[optuna.Trial], float]:
    """Objective: mean log loss over the last ``n_folds`` purged walk-forward folds.

    After each fold the running mean is reported, so the pruner can stop weak trials
    early; Brier score is kept as a user attribute.
    """
    folds_to_use = n_folds or spec.tuning_folds

    def objective(trial: optuna.Trial) -> float:
        params = {**(base_params or {}), **search_space(trial), "n_jobs": 1}
        losses: list[float] = []
        briers: list[float] = []

        def on_fold(score: FoldScore) -> None:
            losses.append(score.log_loss)
            briers.append(score.brier)
            trial.report(float(np.mean(losses)), step=len(losses) - 1)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {len(losses)}")

        walk_forward(spec, data, params, last=folds_to_use, on_fold=on_fold)
        trial.set_user_attr("brier", float(np.mean(briers)))
        trial.set_user_attr("fold_log_loss", [float(x) for x in losses])
        return float(np.mean(losses))

    return objective


def remaining(study: optuna.Study, budget: int) -> int:
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    return max(budget - done, 0)


def run_worker(
    spec: ModelSpec,
    data: TrainingData,
    storage_url: str,
    *,
    budget: int,
    timeout_s: float | None = None,
    worker: int = 0,
    callbacks: Sequence[TrialCallback] = (),
    heartbeat_interval: int = 10,
    grace_period: int = 30,
) -> optuna.Study:
    """Run trials in this process until the study has ``budget`` finished trials."""
    study = open_study(
        spec,
        storage_url,
        worker=worker,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
    )
    with warnings.catch_warnings():
        # fail_stale_trials is marked experimental, but it is the documented way to
        # reclaim trials of dead workers right away instead of after the next heartbeat
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    if remaining(study, budget) == 0:
        return study
    study.optimize(
        make_objective(spec, data),
        timeout=timeout_s,
        callbacks=[MaxTrialsCallback(budget, states=FINISHED), *callbacks],
        catch=(),
        gc_after_trial=True,
    )
    return study


def summarize(study: optuna.Study) -> TuningResult:
    """Best parameters and trial counts of a study."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = min(complete, key=lambda t: t.value if t.value is not None else math.inf, default=None)
    return TuningResult(
        study_name=study.study_name,
        best_params=dict(best.params) if best is not None else {},
        best_value=float(best.value) if best is not None and best.value is not None else math.nan,
        n_complete=len(complete),
        n_pruned=sum(t.state == TrialState.PRUNED for t in trials),
        n_failed=sum(t.state == TrialState.FAIL for t in trials),
    )
