"""Two tuning processes on one study (SQLite, and PostgreSQL as `.ci/run` provides it),
and `downside train` with PostgreSQL as Optuna storage."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState
from typer.testing import CliRunner

from downside import api
from downside.cli import app
from downside.config import load_settings

SpecFactory = Callable[..., Path]
TrialsReader = Callable[[str, str], list[FrozenTrial]]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
BUDGET = 12
FOLDS = 3
"""Twelve trials of three folds (1-4 s each) leave the spawned worker, which needs 5-15 s
to import and assemble its data while worker 0 is already running, a share of the budget
(3-4 of 12 in three runs on the busy 2-core machine)."""


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_workers_fill_one_study_exactly(
    backend: str,
    home: Path,
    make_spec: SpecFactory,
    read_trials: TrialsReader,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = make_spec(f"{backend}-tune", folds=FOLDS)
    name = spec.stem
    if backend == "postgres":
        monkeypatch.setenv("DOWNSIDE_OPTUNA_STORAGE", request.getfixturevalue("postgres_url"))
    settings = load_settings()
    storage = settings.resolved_optuna_storage
    assert storage.startswith("postgresql+psycopg://" if backend == "postgres" else "sqlite:")

    result = api.tune(spec, trials=BUDGET, workers=2, settings=settings)

    trials = read_trials(name, storage)
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == BUDGET
    assert result.n_complete + result.n_pruned == BUDGET
    assert [t.number for t in trials] == list(range(len(trials)))
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # a trial may fail only by losing the race for the last budget slot, before sampling
    surplus = [t for t in trials if t.state == TrialState.FAIL]
    for t in surplus:
        assert t.user_attrs.get("surplus") is True
        assert t.params == {}
    assert (result.n_failed, result.n_surplus) == (0, len(surplus))
    per_worker = Counter(t.user_attrs["worker"] for t in finished)
    assert set(per_worker) == {0, 1}, f"trials per worker: {dict(per_worker)}"
    pids = {t.user_attrs["pid"] for t in finished}
    assert len(pids) == 2
    assert os.getpid() in pids  # worker 0 runs in the calling process

    client = MlflowClient(settings.resolved_tracking_uri)
    experiment = client.get_experiment_by_name(f"downside-{name}")
    assert experiment is not None
    parents = client.search_runs(
        [experiment.experiment_id], filter_string=f"attributes.run_name LIKE 'tune {name}:%'"
    )
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["tuning_trials_complete"] == result.n_complete
    if backend == "postgres":
        assert ":***@" in parent.data.tags["optuna_storage"]
        assert storage.split("@")[0] not in parent.data.tags["optuna_storage"]
    nested = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        max_results=1000,
    )
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in nested}
    assert len(by_number) == len(nested) == len(trials)
    assert sorted(by_number) == [t.number for t in trials]
    for t in finished:
        run = by_number[t.number]
        assert run.data.tags["optuna.worker"] == str(t.user_attrs["worker"])
        assert run.data.tags["optuna.state"] == t.state.name
        if t.value is not None:
            assert run.data.metrics["cv_log_loss"] == pytest.approx(t.value)
        assert {k: str(v) for k, v in t.params.items()} == run.data.params


@pytest.mark.slow
@pytest.mark.postgres
def test_train_with_postgres_optuna_storage(
    home: Path,
    make_spec: SpecFactory,
    read_trials: TrialsReader,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = make_spec("pg-train")
    name = spec.stem
    monkeypatch.setenv("DOWNSIDE_OPTUNA_STORAGE", postgres_url)

    out = CliRunner().invoke(app, ["train", str(spec), "--trials", "2"])
    assert out.exit_code == 0, out.output

    trials = read_trials(name, postgres_url)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    best = min(trials, key=lambda t: float(t.value or "inf"))
    settings = load_settings()
    assert not (settings.home / "optuna.db").exists()
    client = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    version = client.get_model_version_by_alias(f"downside-{name}", "champion")
    assert str(version.version) == "1"
    logged = client.get_run(version.run_id).data.params
    assert {k: logged[k] for k in best.params} == {k: str(v) for k, v in best.params.items()}
