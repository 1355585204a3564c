"""Tuning: one Optuna study per spec, objective = mean walk-forward log loss.

The study lives in the configured storage (SQLite by default, PostgreSQL for many
workers). Several processes, here or on other machines, join the same study by name.
Interrupted studies resume: a heartbeat marks trials of dead workers FAILED after a
grace period and :class:`optuna.storages.RetryHeartbeatStaleTrialCallback` re-queues their
parameters, so no trial is lost, none stays RUNNING, and the budget counts finished
(complete or pruned) trials only.

The budget is exact with many workers: a worker starts a trial only while finished plus
running trials are below the budget, waits (re-checking heartbeats) while the rest of
the budget runs elsewhere, and a trial that still loses the race at creation is closed
as FAIL with user attribute ``surplus`` before sampling anything. Each trial records
the ``worker`` index, ``pid`` and ``host`` that ran it.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from downside.datasets import Frame
from downside.models._fit import FoldScore, walk_forward
from downside.models._search import search_space
from downside.models._spec import ModelSpec

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
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
    n_surplus: int = 0
    """Trials closed unrun because other workers had claimed the budget (not failures)."""


def study_name(spec: ModelSpec) -> str:
    return f"downside-{spec.name}"


def _sampler_seed(tuning_seed: int, worker: int, n_existing: int) -> int:
    """Seed of a worker's sampler, derived from the spec's seed, the worker index and the
    number of trials the study held when the worker joined.

    A fresh study uses ``tuning_seed + worker`` and is reproducible; a worker joining a
    study that already has trials gets a seed mixed from all three, so a rerun does not
    replay the parameters its interrupted predecessor already tried.
    """
    if n_existing == 0:
        return tuning_seed + worker
    entropy = np.random.SeedSequence([tuning_seed, worker, n_existing])
    return int(entropy.generate_state(1)[0])


def open_study(
    spec: ModelSpec,
    storage_url: str,
    *,
    worker: int = 0,
    heartbeat_interval: int = 10,
    grace_period: int = 30,
) -> optuna.Study:
    """Create or join the spec's study.

    Each worker seeds its TPE sampler from ``spec.tuning_seed``, its index and the number
    of trials already in the study (see :func:`_sampler_seed`): workers propose different
    parameters, a fresh run is reproducible and a resumed run does not repeat itself.
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
    try:
        existing = storage.get_n_trials(storage.get_study_id_from_name(study_name(spec)))
    except KeyError:
        existing = 0
    sampler = optuna.samplers.TPESampler(
        seed=_sampler_seed(spec.tuning_seed, worker, existing), n_startup_trials=5
    )
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    return optuna.create_study(
        storage=storage,
        study_name=study_name(spec),
        direction="minimize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


class SurplusTrial(Exception):
    """A trial was created after other workers had claimed the whole budget.

    Raised inside the objective and caught by :func:`run_worker`'s ``study.optimize``,
    which records the trial as FAIL; it never reaches callers.
    """


CLAIMED = (*FINISHED, TrialState.RUNNING)
"""Trial states that count against the budget: finished, or running somewhere."""
WAIT_POLL_S = 1.0
"""How often a worker waiting for other workers' last trials looks at the study."""


def make_objective(
    spec: ModelSpec,
    data: Frame,
    *,
    base_params: Mapping[str, Any] | None = None,
    n_folds: int | None = None,
    budget: int | None = None,
    worker: int = 0,
) -> Callable[[optuna.Trial], float]:
    """Objective: mean log loss over the last ``n_folds`` purged walk-forward folds.

    After each fold the running mean is reported, so the pruner can stop weak trials
    early; Brier score is kept as a user attribute. With a ``budget``, a trial whose
    lower-numbered finished or running trials already fill it is closed as surplus
    before it samples anything.
    """
    folds_to_use = n_folds or spec.tuning_folds
    host = socket.gethostname()

    def objective(trial: optuna.Trial) -> float:
        if budget is not None:
            claimed = trial.study.get_trials(deepcopy=False, states=CLAIMED)
            if sum(t.number < trial.number for t in claimed) >= budget:
                trial.set_user_attr("surplus", True)
                raise SurplusTrial(
                    f"trial {trial.number} not run: other workers already claimed the "
                    f"budget of {budget} finished trials"
                )
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", host)
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


def _fail_stale_trials(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        # fail_stale_trials is marked experimental, but it is the documented way to
        # reclaim trials of dead workers right away instead of after the next heartbeat
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _finished_and_running(study: optuna.Study) -> tuple[int, int]:
    trials = study.get_trials(deepcopy=False, states=CLAIMED)
    finished = sum(t.state in FINISHED for t in trials)
    return finished, len(trials) - finished


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs every trial at INFO; inside our tuning loop only its warnings pass.

    Optuna's verbosity is global: it is lowered only while the block runs, only from
    the default (INFO; a caller who chose another level keeps it), and restored after.
    """
    previous = optuna.logging.get_verbosity()
    if previous == optuna.logging.INFO:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def run_worker(
    spec: ModelSpec,
    data: Frame,
    storage_url: str,
    *,
    budget: int,
    timeout_s: float | None = None,
    worker: int = 0,
    callbacks: Sequence[TrialCallback] = (),
    heartbeat_interval: int = 10,
    grace_period: int = 30,
) -> optuna.Study:
    """Run trials in this process until the study has ``budget`` finished trials.

    While the rest of the budget is running in other processes, wait for it: those
    trials either finish or, if their worker died, go stale after ``grace_period``
    seconds and are re-queued here. Returns early only when ``timeout_s`` runs out.
    Optuna's per-trial INFO lines are silenced meanwhile (:func:`quiet_optuna`).
    """
    with quiet_optuna():
        study = open_study(
            spec,
            storage_url,
            worker=worker,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
        )
        objective = make_objective(spec, data, budget=budget, worker=worker)
        stop_when_claimed = MaxTrialsCallback(budget, states=CLAIMED)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            _fail_stale_trials(study)
            finished, running = _finished_and_running(study)
            left = None if deadline is None else deadline - time.monotonic()
            if finished >= budget or (left is not None and left <= 0):
                return study
            if finished + running >= budget:
                time.sleep(min(WAIT_POLL_S, heartbeat_interval, math.inf if left is None else left))
                continue
            study.optimize(
                objective,
                timeout=left,
                callbacks=[stop_when_claimed, *callbacks],
                catch=(SurplusTrial,),
                gc_after_trial=True,
            )


def close_study(study: optuna.Study) -> None:
    """Close the database connections of a study opened here.

    Optuna has no public close; pooled connections left to the garbage collector raise
    ``ResourceWarning`` (psycopg) at a random later point.
    """
    storage = getattr(study._storage, "_backend", study._storage)
    if isinstance(storage, RDBStorage):
        storage.remove_session()
        storage.engine.dispose()


def summarize(study: optuna.Study) -> TuningResult:
    """Best parameters and trial counts of a study."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = min(complete, key=lambda t: t.value if t.value is not None else math.inf, default=None)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    surplus = sum(bool(t.user_attrs.get("surplus")) for t in failed)
    return TuningResult(
        study_name=study.study_name,
        best_params=dict(best.params) if best is not None else {},
        best_value=float(best.value) if best is not None and best.value is not None else math.nan,
        n_complete=len(complete),
        n_pruned=sum(t.state == TrialState.PRUNED for t in trials),
        n_failed=len(failed) - surplus,
        n_surplus=surplus,
    )
