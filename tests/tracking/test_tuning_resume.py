"""`downside tune` killed mid-trial, then rerun: the study reaches its budget exactly.

"No duplicated trials" means here: trial numbers are unique, finished trials never
exceed the budget, the killed trial is re-queued once with its own parameters (the
heartbeat marks it FAIL and :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`
retries it), and no two finished trials share parameters. The last point catches a
rerun whose sampler restarts from the same seed and replays the first run's proposals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import SQLAlchemyError

from downside.config import load_settings

SpecFactory = Callable[..., Path]
TrialsReader = Callable[[str, str], list[FrozenTrial]]
DOWNSIDE = Path(sys.executable).parent / "downside"
BUDGET = 4
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _freeze_mid_trial(
    proc: subprocess.Popen[bytes], read: Callable[[], list[FrozenTrial]], log: Path
) -> FrozenTrial:
    """Stop (SIGSTOP) the process group inside a trial that has sampled its parameters,
    after at least one trial completed; returns that RUNNING trial."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"tune exited ({proc.returncode}) before a trial ran: {log.read_text()}")
        try:
            if _mid_trial(read()):
                os.killpg(proc.pid, signal.SIGSTOP)
                running = _mid_trial(read())  # frozen: this is what SIGKILL interrupts
                if running:
                    return running[0]
                os.killpg(proc.pid, signal.SIGCONT)  # stopped between two trials
        except (KeyError, SQLAlchemyError):  # no study yet, or a lock held by the frozen run
            os.killpg(proc.pid, signal.SIGCONT)
        time.sleep(0.2)
    pytest.fail("no trial started within 300 s")


def _mid_trial(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    if not any(t.state == TrialState.COMPLETE for t in trials):
        return []
    return [t for t in trials if t.state == TrialState.RUNNING and t.params]


@pytest.mark.slow
def test_killed_tuning_resumes_to_the_exact_budget(
    home: Path, make_spec: SpecFactory, read_trials: TrialsReader, tmp_path: Path
) -> None:
    spec = make_spec("resume")
    storage = load_settings().resolved_optuna_storage
    env = {**os.environ, "DOWNSIDE_OPTUNA_HEARTBEAT": "1", "DOWNSIDE_OPTUNA_GRACE": "4"}
    command = [str(DOWNSIDE), "tune", str(spec), "--trials", str(BUDGET)]
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        first = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            victim = _freeze_mid_trial(first, lambda: read_trials(spec.stem, storage), log)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    orphaned = {t.number: t for t in read_trials(spec.stem, storage)}
    assert orphaned[victim.number].state == TrialState.RUNNING  # nobody closed it

    rerun = subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stdout.decode() + rerun.stderr.decode()

    trials = read_trials(spec.stem, storage)
    assert [t.number for t in trials] == list(range(len(trials)))
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == BUDGET
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [victim.number]
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1
    assert retries[0].state in FINISHED
    assert retries[0].params == victim.params
    proposals = [tuple(sorted(t.params.items())) for t in finished]
    assert len(set(proposals)) == len(proposals), "a finished trial repeats another's parameters"
    # trials before the kill ran in the first process, the rest in the rerun
    pids = {t.user_attrs["pid"] for t in finished}
    assert len(pids) == 2
    assert all(t.user_attrs["pid"] != victim.user_attrs["pid"] for t in retries)
