"""The tuning loop's budget and heartbeat rules, in one process on SQLite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from downside.config import load_settings
from downside.datasets import Frame, build_frame
from downside.errors import ConfigError
from downside.features import FeatureStore
from downside.models import (
    ModelSpec,
    close_study,
    load_spec,
    make_objective,
    open_study,
    run_worker,
    study_name,
)
from downside.models._tuning import SurplusTrial, _sampler_seed

SpecFactory = Callable[..., Path]
TrialsReader = Callable[[str, str], list[FrozenTrial]]


@pytest.fixture
def tiny(home: Path, make_spec: SpecFactory) -> tuple[ModelSpec, Frame, str]:
    settings = load_settings()
    spec = load_spec(make_spec("budget"), settings.resolved_model_dir)
    data = build_frame(spec.frame, FeatureStore.from_settings(settings))
    return spec, data, settings.resolved_optuna_storage


def _plain(spec: ModelSpec, storage: str) -> optuna.Study:
    """The spec's study without heartbeats, to play another worker with ask()."""
    return optuna.load_study(study_name=study_name(spec), storage=storage)


def test_heartbeat_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (load_settings().optuna_heartbeat_s, load_settings().optuna_grace_s) == (10, 30)
    monkeypatch.setenv("DOWNSIDE_OPTUNA_HEARTBEAT", "2")
    monkeypatch.setenv("DOWNSIDE_OPTUNA_GRACE", "5")
    settings = load_settings()
    assert (settings.optuna_heartbeat_s, settings.optuna_grace_s) == (2, 5)
    monkeypatch.setenv("DOWNSIDE_OPTUNA_GRACE", "2")
    with pytest.raises(ConfigError, match="optuna_grace_s=2 must exceed optuna_heartbeat_s=2"):
        load_settings()
    monkeypatch.setenv("DOWNSIDE_OPTUNA_HEARTBEAT", "0")
    with pytest.raises(ConfigError, match="DOWNSIDE_OPTUNA_HEARTBEAT"):
        load_settings()


def test_sampler_seed_is_stable_fresh_and_new_on_resume() -> None:
    assert [_sampler_seed(7, w, 0) for w in (0, 1, 2)] == [7, 8, 9]
    resumed = {_sampler_seed(7, w, n) for w in (0, 1) for n in (1, 2, 3)}
    assert len(resumed) == 6
    assert not resumed & {7, 8}
    assert _sampler_seed(7, 0, 3) == _sampler_seed(7, 0, 3)


def test_trial_created_after_the_budget_is_claimed_is_surplus(
    tiny: tuple[ModelSpec, Frame, str],
) -> None:
    spec, data, storage = tiny
    close_study(open_study(spec, storage))
    study = _plain(spec, storage)
    for value in (0.3, 0.2):
        study.add_trial(optuna.create_trial(state=TrialState.COMPLETE, value=value))
    running = study.ask()  # another worker's trial, still running
    late = study.ask()
    objective = make_objective(spec, data, budget=3)
    with pytest.raises(SurplusTrial, match=f"trial {late.number} not run"):
        objective(late)
    frozen = study._storage.get_trial(late._trial_id)
    assert frozen.user_attrs == {"surplus": True}
    assert frozen.params == {}
    assert running.number < late.number
    close_study(study)


def test_worker_waits_for_a_running_trial_and_retries_it_once_it_is_stale(
    tiny: tuple[ModelSpec, Frame, str], read_trials: TrialsReader
) -> None:
    spec, data, storage = tiny
    with_heartbeat = open_study(spec, storage, heartbeat_interval=1, grace_period=3)
    study = _plain(spec, storage)
    study.add_trial(optuna.create_trial(state=TrialState.COMPLETE, value=0.3))
    orphan = study.ask()  # a worker that sent one heartbeat and died
    with_heartbeat._storage.record_heartbeat(orphan._trial_id)
    close_study(study)
    close_study(with_heartbeat)

    done = run_worker(spec, data, storage, budget=2, heartbeat_interval=1, grace_period=3)
    close_study(done)

    trials = read_trials(spec.name, storage)
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert trials[2].system_attrs["failed_trial"] == orphan.number
    assert trials[2].user_attrs["worker"] == 0


def test_worker_with_a_full_budget_runs_nothing(
    tiny: tuple[ModelSpec, Frame, str], read_trials: TrialsReader
) -> None:
    spec, data, storage = tiny
    study = open_study(spec, storage)
    study.add_trial(optuna.create_trial(state=TrialState.COMPLETE, value=0.3))
    study.add_trial(optuna.create_trial(state=TrialState.PRUNED, value=None))
    close_study(study)
    close_study(run_worker(spec, data, storage, budget=2))
    assert len(read_trials(spec.name, storage)) == 2
