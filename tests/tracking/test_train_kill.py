"""`downside train` killed (SIGKILL) at the registry step, then rerun: nothing lost,
nothing duplicated, no half-registered model version.

Two moments of the registry step, each frozen with SIGSTOP before the SIGKILL so the
state the kill leaves is known:

- ``logged``: the model is logged to the run (its files are final) and the version is
  being prepared (files downloaded and hashed for the integrity manifest);
- ``registered``: the first moment a model version of the spec exists in the registry.

What the rerun must leave: every model version carries its integrity manifest and fold
scores (a version is created with all its tags in one registry call, so one without them
never exists, even for a moment); champion and challenger point at such versions and the
rerun's version is the challenger; `downside models list` and loading the champion work;
the Optuna study holds exactly its budget of finished trials, with no parameters
repeated; the killed run is marked KILLED, not left RUNNING.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import SQLAlchemyError
from typer.testing import CliRunner

from downside.cli import app
from downside.config import load_settings
from downside.tracking import CHALLENGER, CHAMPION, load_predictor
from downside.tracking._integrity import MANIFEST_TAG
from downside.tracking._registry import FOLDS_TAG

SpecFactory = Callable[..., Path]
TrialsReader = Callable[[str, str], list[FrozenTrial]]
DOWNSIDE = Path(sys.executable).parent / "downside"
BUDGET = 2
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _reached(client: MlflowClient, model: str, moment: str) -> bool:
    """Whether the training has reached ``moment`` of its registry step."""
    if moment == "registered":
        return bool(client.search_model_versions(f"name = '{model}'"))
    experiment = client.get_experiment_by_name(model)
    if experiment is None:
        return False
    logged = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    return any(m.status == LoggedModelStatus.READY for m in logged)


def _freeze_at(
    proc: subprocess.Popen[bytes], client: MlflowClient, model: str, moment: str, log: Path
) -> None:
    """SIGSTOP the process group as soon as the training reaches ``moment``."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"train exited ({proc.returncode}) before {moment}: {log.read_text()}")
        try:
            if _reached(client, model, moment):
                os.killpg(proc.pid, signal.SIGSTOP)
                return
        except (MlflowException, SQLAlchemyError):  # the database is busy: look again
            pass
        time.sleep(0.05)
    pytest.fail(f"train did not reach {moment} within 600 s")


def _versions(client: MlflowClient, model: str) -> dict[str, dict[str, str]]:
    return {str(v.version): dict(v.tags) for v in client.search_model_versions(f"name = '{model}'")}


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["logged", "registered"])
def test_train_killed_at_the_registry_step_resumes_cleanly(
    home: Path, make_spec: SpecFactory, read_trials: TrialsReader, tmp_path: Path, moment: str
) -> None:
    spec = make_spec("killreg", trials=BUDGET)
    model = f"downside-{spec.stem}"
    settings = load_settings()
    client = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    command = [str(DOWNSIDE), "-q", "train", str(spec)]
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        first = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _freeze_at(first, client, model, moment, log)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    # read after the kill, not while frozen: a frozen process may hold SQLite's write lock
    # (reads then fail with "database is locked"); the kill releases it and rolls back
    # whatever it had not committed, so this is exactly what SIGKILL leaves
    at_kill = _versions(client, model)
    for version, tags in at_kill.items():
        assert {MANIFEST_TAG, FOLDS_TAG} <= set(tags), f"v{version} half-registered: {tags}"

    rerun = subprocess.run(command, capture_output=True, timeout=900, check=False)
    assert rerun.returncode == 0, rerun.stdout.decode() + rerun.stderr.decode()

    versions = _versions(client, model)
    assert len(versions) == len(at_kill) + 1, "the rerun registers exactly one version"
    for version, tags in versions.items():
        assert {MANIFEST_TAG, FOLDS_TAG} <= set(tags), f"v{version} half-registered: {tags}"
    newest = max(versions, key=int)
    aliases = {k: str(v) for k, v in client.get_registered_model(model).aliases.items()}
    assert aliases[CHALLENGER] == newest
    assert aliases[CHAMPION] in versions

    listed = CliRunner().invoke(app, ["models", "list", model, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert sorted(str(row["version"]) for row in json.loads(listed.stdout)) == sorted(versions)
    predictor = load_predictor(f"models:/{model}@{CHAMPION}", settings)
    assert predictor.spec.name == spec.stem

    trials = read_trials(spec.stem, settings.resolved_optuna_storage)
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == BUDGET, [t.state for t in trials]
    assert len({tuple(sorted(t.params.items())) for t in finished}) == BUDGET

    experiment = client.get_experiment_by_name(model)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`mlflow.runName` LIKE 'train %'")
    statuses = sorted(r.info.status for r in runs)
    if moment == "logged":  # frozen before any version exists: the run cannot have ended
        assert statuses == ["FINISHED", "KILLED"]
    else:  # the few milliseconds between the version's creation and SIGSTOP may let the
        # first process set its aliases and end its run; never is a run left RUNNING
        assert statuses in (["FINISHED", "KILLED"], ["FINISHED", "FINISHED"]), statuses
