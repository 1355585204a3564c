"""The daily loop of a risk desk on the simulated market.

Small models are trained on the data before 2024-01-01; then, for 60 consecutive days,
the store is advanced by one day (the simulated tables truncated to that day are
ingested) and `forecast` records the champion's surface and support-break odds in the
ledger. The market switches regime on day 30 (a seeded :func:`shift_regime`: wilder
prices, crashes, hotter funding). Then the ledger is scored (`evaluate`) and checked
(`monitor`). One day's forecast runs in a subprocess killed while it writes the ledger,
and is run again.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from downside import api
from downside.cli import app
from downside.config import Settings, load_settings
from downside.datasets import daily_prices
from downside.features import FeatureStore
from downside.sources import read_files, shift_regime, simulate_market
from downside.store import LEDGER_TABLE, PAUSE_BEFORE_SWITCH_ENV, Store
from downside.targets import drawdown_labels, support_break_labels
from downside.tracking import MONITORING_EXPERIMENT
from downside.workflows import LEDGER_KEYS, read_ledger

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

FIRST = pd.Timestamp("2024-01-01", tz="UTC")
DAYS = 60
REGIME_DAY = 30
"""The new regime starts at FIRST + 30 days: forecasts from day 31 on see it."""
RERUN_DAY = 10
KILL_DAY = 20
CELLS = 25
"""Drawdown cells per symbol and day (five thresholds, five horizons)."""


def _specs(target: Path) -> Path:
    """The shipped specs, small: 40 trees, shorter walk-forward."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("drawdown", "support"):
        lines = []
        for line in (REPO / "models" / f"{name}.toml").read_text().splitlines():
            if line.startswith("n_estimators"):
                line = "n_estimators = 40"
            elif line.startswith("min_train_days"):
                line = "min_train_days = 240"
            elif line.startswith("test_days"):
                line = "test_days = 30"
            elif line.startswith("min_child_samples"):
                line = "min_child_samples = 2000"
            lines.append(line)
        (target / f"{name}.toml").write_text("\n".join(lines) + "\n")
    return target


@dataclass
class Loop:
    """What the 60 days produced."""

    settings: Settings
    env: dict[str, str]
    days: list[pd.Timestamp] = field(default_factory=list)
    runs: list[api.ForecastRun] = field(default_factory=list)
    rerun: api.ForecastRun | None = None
    versions_before_rerun: tuple[str, int] = ("", 0)
    versions_after_rerun: tuple[str, int] = ("", 0)
    killed_ledger_rows: int = -1
    kill_returncode: int | None = None
    before_kill_rows: int = -1
    before_regime: api.MonitorReport | None = None
    after_regime: api.MonitorReport | None = None
    evaluation: api.EvaluationRun | None = None
    seconds: list[float] = field(default_factory=list)


def _truncated(tables: dict[str, pd.DataFrame], day: pd.Timestamp) -> dict[str, pd.DataFrame]:
    return {name: frame[frame["ts"] < day] for name, frame in tables.items()}


def _kill_while_recording(env: dict[str, str], now: pd.Timestamp) -> int | None:
    """Run `downside forecast` in a subprocess, SIGKILL it once it has written the
    ledger's new part and version record and sleeps before the manifest switch."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "downside", "-v", "forecast", "--no-report", "--now", str(now)],
        env={**env, PAUSE_BEFORE_SWITCH_ENV: "120"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + 240
    seen: list[str] = []
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=1.0):
                line = proc.stderr.readline()
                seen.append(line)
                if "before the manifest switch" in line:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    return proc.returncode
                if not line:
                    break
        raise AssertionError(f"the forecast never paused; stderr: {''.join(seen)}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    base = tmp_path_factory.mktemp("daily")
    home = base / "home"
    env = {
        **os.environ,
        "HOME": str(base),
        "DOWNSIDE_HOME": str(home),
        "DOWNSIDE_MODEL_DIR": str(_specs(base / "specs")),
        "DOWNSIDE_MONITOR_MIN_SKILL": "-1",
        "DOWNSIDE_MONITOR_MAX_ECE": "1",
    }
    for var in ("DOWNSIDE_TRACKING_URI", "DOWNSIDE_REGISTRY_URI", "MLFLOW_TRACKING_URI"):
        env.pop(var, None)
    with pytest.MonkeyPatch.context() as mp:
        for key in ("HOME", "DOWNSIDE_HOME", "DOWNSIDE_MODEL_DIR"):
            mp.setenv(key, env[key])
        mp.setenv("DOWNSIDE_MONITOR_MIN_SKILL", "-1")
        mp.setenv("DOWNSIDE_MONITOR_MAX_ECE", "1")
        settings = load_settings()
        sim = simulate_market(
            base / "market", start="2023-01-01", end="2024-04-30", symbols=("BTC", "ETH")
        )
        regime = FIRST + pd.Timedelta(days=REGIME_DAY)
        shifted = shift_regime(sim.out_dir, base / "shifted", start=f"{regime:%Y-%m-%d}", seed=11)
        tables = {raw.table: raw.frame for raw in read_files(shifted)}
        store = Store.from_settings(settings)
        store.ingest(_truncated(tables, FIRST), origin="history")
        for name in ("drawdown", "support"):
            api.train(name, trials=0, folds=1, settings=settings)
        fc = api.Forecaster.load(settings=settings)
        store = fc.feature_store.store
        assert isinstance(store, Store)
        result = Loop(settings, env)
        for i in range(DAYS):
            day = FIRST + pd.Timedelta(days=i)
            now = day + pd.Timedelta(hours=6)
            store.ingest(_truncated(tables, day), origin=f"day {day:%Y-%m-%d}")
            if i == KILL_DAY:
                result.before_kill_rows = len(store.read(LEDGER_TABLE))
                result.kill_returncode = _kill_while_recording(env, now)
                result.killed_ledger_rows = len(store.read(LEDGER_TABLE))
            started = time.perf_counter()
            run = api.forecast(forecaster=fc, now=now, settings=settings)
            result.seconds.append(time.perf_counter() - started)
            result.days.append(day)
            result.runs.append(run)
            if i == RERUN_DAY:
                result.versions_before_rerun = (store.version, len(store.history()))
                result.rerun = api.forecast(forecaster=fc, now=now, settings=settings)
                result.versions_after_rerun = (store.version, len(store.history()))
            if i == REGIME_DAY:
                result.before_regime = api.monitor(forecaster=fc, now=now, settings=settings)
        result.after_regime = api.monitor(forecaster=fc, now=now, settings=settings)
        result.evaluation = api.evaluate(n_boot=100, settings=settings)
        yield result


def test_a_forecast_every_day(loop: Loop) -> None:
    assert [r.daily.asof for r in loop.runs] == loop.days
    for run in loop.runs:
        assert run.daily.recorded == sum(len(a) for a in run.daily.answers.values())
        assert run.daily.already == 0
        assert len(run.daily.answers["drawdown"]) == 2 * CELLS
        assert len(run.daily.answers["support"]) > 0
        assert not any("latest as-of time" in s for s in run.daily.stale)
    print(
        f"\ndaily forecast on the simulated market: median {np.median(loop.seconds):.2f} s, "
        f"max {max(loop.seconds):.2f} s (store version changes every day: features rebuilt)"
    )


def test_a_rerun_the_same_day_changes_nothing(loop: Loop) -> None:
    assert loop.rerun is not None
    assert loop.rerun.daily.recorded == 0
    assert loop.rerun.daily.already == loop.runs[RERUN_DAY].daily.recorded
    assert loop.versions_after_rerun == loop.versions_before_rerun
    pd.testing.assert_frame_equal(
        loop.rerun.daily.answers["drawdown"], loop.runs[RERUN_DAY].daily.answers["drawdown"]
    )


def test_ledger_integrity(loop: Loop) -> None:
    store = Store.from_settings(loop.settings)
    ledger = read_ledger(store)
    assert not ledger.duplicated(list(LEDGER_KEYS)).any()
    assert len(ledger) == sum(r.daily.recorded for r in loop.runs)
    per_day = ledger.groupby("asof").size()
    assert list(per_day.index) == loop.days
    for run in loop.runs:
        assert per_day[run.daily.asof] == run.daily.recorded
    assert set(ledger["origin"]) == {"forecast"}
    assert (ledger["data_version"].str.len() == 16).all()
    assert store.verify().ok
    # the first record is the forecast printed that day
    day = loop.runs[5].daily
    kept = ledger[(ledger["asof"] == day.asof) & (ledger["target"] == "drawdown")]
    np.testing.assert_array_equal(
        np.sort(kept["probability"].to_numpy()),
        np.sort(day.answers["drawdown"]["probability"].to_numpy()),
    )


def test_a_kill_during_the_ledger_write_loses_nothing(loop: Loop) -> None:
    assert loop.kill_returncode == -signal.SIGKILL
    assert loop.killed_ledger_rows == loop.before_kill_rows  # nothing half-written
    run = loop.runs[KILL_DAY]
    assert run.daily.recorded > 0  # the rerun recorded the whole day
    assert run.daily.already == 0
    leftovers = list(Store.from_settings(loop.settings).root.glob("*.tmp"))
    assert leftovers == []  # collected by the next write


def _direct(ledger: pd.DataFrame, settings: Settings) -> dict[str, tuple[int, float]]:
    """Brier of the matured records, labelled here with the targets functions."""
    fs = FeatureStore.from_settings(settings)
    prices = daily_prices(fs)
    out = {}
    dd = ledger[ledger["target"] == "drawdown"]
    spine = dd[["symbol", "asof"]].drop_duplicates()
    labels = drawdown_labels(
        prices, spine, sorted(set(dd["threshold"])), sorted(set(dd["horizon_days"]))
    )
    merged = dd.merge(labels, on=["symbol", "asof", "threshold", "horizon_days"])
    merged = merged[merged["label"].notna()]
    out["drawdown"] = (
        len(merged),
        float(np.mean((merged["probability"] - merged["label"]) ** 2)),
    )
    su = ledger[ledger["target"] == "support"]
    rows = su[["symbol", "asof", "level"]].drop_duplicates()
    labels = support_break_labels(prices, rows, sorted(set(su["horizon_days"])))
    merged = su.merge(labels, on=["symbol", "asof", "level", "horizon_days"])
    merged = merged[merged["label"].notna()]
    out["support"] = (len(merged), float(np.mean((merged["probability"] - merged["label"]) ** 2)))
    return out


def test_scores_equal_a_direct_computation_from_the_labels(loop: Loop) -> None:
    assert loop.evaluation is not None
    evaluation = loop.evaluation.evaluation
    ledger = read_ledger(Store.from_settings(loop.settings))
    direct = _direct(ledger, loop.settings)
    summary = evaluation.summary.set_index(["target", "model_version"])
    for target, (n, brier) in direct.items():
        row = summary.loc[(target, "all")]
        assert int(row["n"]) == n > 0
        assert float(row["brier"]) == pytest.approx(brier, abs=1e-12)
        assert float(summary.loc[(target, "1"), "brier"]) == pytest.approx(brier, abs=1e-12)
    assert evaluation.pending == len(ledger) - len(evaluation.rows)
    scores = evaluation.scores
    baselines = set(scores.loc[scores["forecast"] != "model", "forecast"])
    assert {"climatology", "gbm_ewma", "vol_logistic"} <= baselines
    assert not evaluation.rolling.empty


def test_the_track_record_is_an_mlflow_monitoring_run(loop: Loop) -> None:
    assert loop.evaluation is not None
    run_id = loop.evaluation.run_id
    assert run_id is not None
    client = mlflow.tracking.MlflowClient(loop.settings.resolved_tracking_uri)
    run = client.get_run(run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == MONITORING_EXPERIMENT
    assert "drawdown.all.brier" in run.data.metrics
    history = client.get_metric_history(run_id, "drawdown.rolling.skill")
    assert len(history) == len(loop.evaluation.evaluation.rolling.query("target == 'drawdown'"))
    steps = [m.step for m in history]
    assert steps == sorted(steps)
    first = pd.Timestamp(history[0].timestamp, unit="ms", tz="UTC")
    assert FIRST <= first <= FIRST + pd.Timedelta(days=DAYS)


def test_the_regime_change_raises_an_alert(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    before, after = loop.before_regime, loop.after_regime
    assert before is not None
    assert after is not None
    volatility = {"sigma_daily", "sigma_parkinson"} | {
        name for name in after.drift["input"] if "rv" in name or "log_rv" in name
    }
    drifted_before = set(before.drift.loc[before.drift["drift"], "input"])
    drifted_after = set(after.drift.loc[after.drift["drift"], "input"])
    # before the change no volatility input left its training range (a macro input may:
    # the simulated JGB yields reach new levels in January 2024)
    assert not drifted_before & volatility, before.reasons
    assert after.status == "alert"
    assert "sigma_daily" in drifted_after
    assert len(drifted_after & volatility) >= 3
    assert len(drifted_after) > len(drifted_before)
    assert any("input drift" in r for r in after.reasons)
    # the scheduler sees exit code 3 with the reasons
    for key in ("HOME", "DOWNSIDE_HOME", "DOWNSIDE_MODEL_DIR"):
        monkeypatch.setenv(key, loop.env[key])
    now = loop.days[-1] + pd.Timedelta(hours=6)
    result = CliRunner().invoke(app, ["monitor", "--now", str(now), "--format", "json"])
    assert result.exit_code == 3, result.output
    assert "input drift" in result.output
