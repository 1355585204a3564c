"""Feature builds and backtests on a real Dask cluster: a scheduler and two workers
started as separate processes on 127.0.0.1 give the same results as this process, even
when a worker is killed in the middle of a backtest."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pytest

from downside.config import load_settings
from downside.datasets import build_frame
from downside.errors import ConfigError
from downside.evaluation import brier_score, log_loss
from downside.features import FeatureStore
from downside.models import DrawdownSurface, load_spec, parse_spec
from downside.sources import simulate_market
from downside.store import Store
from downside.workflows import BacktestResult, fit_spec, run_backtest
from downside.workflows._engine import DaskEngine, LocalEngine, connect, current_engine

pytestmark = pytest.mark.slow

SPEC = """
name = "drawdown"
target = "drawdown"

[data]
symbols = ["BTC", "ETH"]
pool = ["SOL"]

[grid]
thresholds = [0.05, 0.10, 0.20]
horizons_days = [1, 7, 14]

[features]
families = ["leverage", "funding", "etf_flows", "rates", "technical"]

[walk_forward]
scheme = "expanding"
test_days = 120
embargo_days = 1
min_train_days = 360

[model]
n_estimators = 40
learning_rate = 0.1
num_leaves = 7
min_child_samples = 100
base = "vol_logistic"
"""
START, END = "2023-01-01", "2023-12-31"
TABLES = (
    "predictions",
    "skill",
    "metrics",
    "folds",
    "losses",
    "joint",
    "joint_vs",
    "decomposition",
    "mcs",
    "quarters",
    "regimes",
    "episodes",
)


@dataclass
class Cluster:
    """A ``dask scheduler`` and ``dask worker`` processes; stopped by :meth:`stop`."""

    folder: Path
    scheduler: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[BinaryIO] = field(default_factory=list)

    def _log(self, name: str) -> BinaryIO:
        self.logs.append((self.folder / f"{name}.log").open("wb"))
        return self.logs[-1]

    @property
    def address(self) -> str:
        return str(json.loads((self.folder / "scheduler.json").read_text())["address"])

    def start(self, n_workers: int) -> Cluster:
        dask = Path(sys.executable).parent / "dask"
        file = self.folder / "scheduler.json"
        log = self._log("scheduler")
        self.scheduler = subprocess.Popen(
            [
                str(dask),
                "scheduler",
                *("--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
                *("--scheduler-file", str(file)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not _written(file) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _written(file), (self.folder / "scheduler.log").read_text()
        for k in range(n_workers):
            name = f"w{k}"
            out = self._log(name)
            self.workers[name] = subprocess.Popen(
                [
                    str(dask),
                    "worker",
                    *("--scheduler-file", str(file), "--name", name, "--host", "127.0.0.1"),
                    *("--nthreads", "1", "--no-nanny", "--no-dashboard", "--memory-limit", "0"),
                    *("--local-directory", str(self.folder / name)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with connect(self.address) as engine:
            assert isinstance(engine, DaskEngine)
            engine.client.wait_for_workers(n_workers, timeout=120)
        return self

    def kill(self, name: str) -> None:
        self.workers[name].send_signal(signal.SIGKILL)
        self.workers[name].wait(timeout=30)

    def stop(self) -> None:
        for proc in [*self.workers.values(), self.scheduler]:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
        for log in self.logs:
            log.close()


def _written(file: Path) -> bool:
    """Whether the scheduler has written its address to ``file``."""
    try:
        return "address" in json.loads(file.read_text())
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dask")
    sim = simulate_market(root / "market", start="2021-07-01", end="2024-03-31", seed=3)
    Store(root / "home" / "store").ingest_files(sim.out_dir)
    (root / "spec.toml").write_text(SPEC, encoding="utf-8")
    return root


ClusterFactory = Callable[[int], Cluster]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterFactory]:
    started: list[Cluster] = []

    def start(n_workers: int) -> Cluster:
        folder = tmp_path / f"cluster{len(started)}"
        folder.mkdir()
        started.append(Cluster(folder))
        return started[-1].start(n_workers)

    yield start
    for c in started:
        c.stop()


def _feature_store(home: Path) -> FeatureStore:
    return FeatureStore.from_settings(load_settings({"home": home / "home"}))


@pytest.fixture(scope="module")
def local(home: Path) -> BacktestResult:
    spec = load_spec(home / "spec.toml", home)
    return run_backtest(spec, _feature_store(home), start=START, end=END, n_boot=50)


def _assert_same(a: BacktestResult, b: BacktestResult) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a.monotonicity_violations == b.monotonicity_violations
    assert a.grid_points == b.grid_points
    assert a.best_baseline == b.best_baseline
    assert a.warning == b.warning


def test_feature_build_on_the_cluster_equals_the_local_build(
    home: Path, cluster: ClusterFactory
) -> None:
    features = _feature_store(home).build()
    symbols = features.symbols()
    times = pd.date_range("2021-08-01", "2024-03-31", freq="7h", tz="UTC", unit="us")
    spine = pd.DataFrame(
        {
            "symbol": pd.array(np.repeat(symbols, len(times)), dtype="str"),
            "asof": np.tile(times, len(symbols)),
        }
    )
    expected = features.get_features(spine)
    folder = features.cache_dir / features.cache_key()
    files = sorted(p.relative_to(folder) for p in folder.rglob("*.parquet") if p.is_file())
    shutil.rmtree(features.cache_dir)

    c = cluster(2)
    with connect(c.address) as engine:
        assert current_engine() is engine
        fresh = _feature_store(home)
        fresh.build(mapper=engine.map, partition_size=1)  # a task per symbol
    rebuilt = sorted(p.relative_to(folder) for p in folder.rglob("*.parquet") if p.is_file())
    assert {p.parent for p in rebuilt} == {p.parent for p in files}  # the same groups
    assert {p.name for p in rebuilt} == {"global.parquet", "p0001.parquet"} | {
        f"p{k:04d}.parquet" for k in range(2, len(symbols) + 1)
    }
    pd.testing.assert_frame_equal(_feature_store(home).get_features(spine), expected)
    assert current_engine() is None


def test_backtest_on_two_workers_equals_the_local_backtest(
    home: Path, cluster: ClusterFactory, local: BacktestResult
) -> None:
    c = cluster(2)
    arrived: list[int] = []
    spec = load_spec(home / "spec.toml", home)
    with connect(c.address) as engine:
        result = run_backtest(
            spec,
            _feature_store(home),
            start=START,
            end=END,
            n_boot=50,
            on_fold=lambda score: arrived.append(score.index),
            engine=engine,
        )
    assert sorted(arrived) == list(range(len(local.folds)))
    _assert_same(result, local)


def test_a_worker_killed_mid_backtest_is_survived_with_identical_results(
    home: Path, cluster: ClusterFactory, local: BacktestResult
) -> None:
    c = cluster(2)
    spec = load_spec(home / "spec.toml", home)
    outcome: dict[str, object] = {}
    with connect(c.address) as engine:
        assert isinstance(engine, DaskEngine)
        names = {addr: w["name"] for addr, w in engine.client.scheduler_info()["workers"].items()}

        def run() -> None:
            try:
                outcome["result"] = run_backtest(
                    spec, _feature_store(home), start=START, end=END, n_boot=50, engine=engine
                )
            except Exception as exc:  # reported by the assertion below
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            for addr, keys in engine.client.processing().items():
                if any(str(k).startswith("downside-fold") for k in keys):
                    victim = names[addr]
                    break
            time.sleep(0.2)
        assert victim is not None, "no fold task was seen running"
        time.sleep(1.0)  # the task is under way (building its rows) when its worker dies
        c.kill(victim)
        thread.join(timeout=900)
        assert not thread.is_alive()
        assert len(engine.client.scheduler_info()["workers"]) == 1
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert isinstance(result, BacktestResult)
    _assert_same(result, local)


def test_local_engine_and_unreachable_scheduler() -> None:
    with connect(None) as engine:
        assert isinstance(engine, LocalEngine)
        assert engine.map(lambda x: x * 2, [1, 2, 3]) == [2, 4, 6]
    with (
        pytest.raises(ConfigError, match="no Dask scheduler answered"),
        connect("tcp://127.0.0.1:9", timeout_s=2),
    ):
        pass
    assert load_settings(environ={"DOWNSIDE_CLUSTER": "tcp://10.0.0.1:8786"}).cluster == (
        "tcp://10.0.0.1:8786"
    )


def test_final_fit_on_the_cluster_equals_the_local_fit(home: Path, cluster: ClusterFactory) -> None:
    settings = load_settings({"home": home / "home"})
    spec = dataclasses.replace(load_spec(home / "spec.toml", home), tuning_folds=1)
    local_fit = fit_spec(spec, _feature_store(home), settings, trials=0)
    c = cluster(1)
    remote = fit_spec(
        spec, _feature_store(home), dataclasses.replace(settings, cluster=c.address), trials=0
    )
    a, b = local_fit.predictor.model, remote.predictor.model
    assert a.booster_ is not None
    assert b.booster_ is not None
    assert a.booster_.model_to_string() == b.booster_.model_to_string()
    rows = build_frame(spec.frame, _feature_store(home)).labelled
    columns = list(local_fit.predictor.input_columns)
    np.testing.assert_array_equal(a.predict_proba(rows[columns]), b.predict_proba(rows[columns]))
    assert local_fit.metrics == remote.metrics


def test_cli_cluster_option_builds_features_on_the_cluster(
    home: Path, cluster: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from downside.cli import app

    runner = CliRunner()
    for command in (["backtest"], ["train"], ["features", "export"]):
        shown = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert "--cluster" in shown.output
    monkeypatch.setenv("DOWNSIDE_HOME", str(home / "home"))
    args = ["features", "export", "--symbols", "BTC,SOL", "--start", "2024-01-01"]
    args += ["--end", "2024-01-10", "--freq", "1h", "--format", "csv"]
    local_csv = runner.invoke(app, args)
    assert local_csv.exit_code == 0, local_csv.output
    shutil.rmtree(home / "home" / "store" / "features")
    c = cluster(1)
    remote_csv = runner.invoke(app, [*args, "--cluster", c.address])
    assert remote_csv.exit_code == 0, remote_csv.output
    assert remote_csv.stdout == local_csv.stdout
    assert (home / "home" / "store" / "features").is_dir()


DISTRIBUTED_SPEC = SPEC.replace(
    'base = "vol_logistic"', 'base = "parkinson"\ncalibration = "none"\ndistributed = true'
)
DISTRIBUTED_TOLERANCE = {"log_loss": 0.005, "brier": 0.001, "mean_abs_p": 0.03, "p99_abs_p": 0.2}
"""How far the booster trained by LightGBM's Dask estimator on two workers may be from
the local one (measured: see the test's docstring)."""


def _tree_margin_steps(model: DrawdownSurface, matrix: np.ndarray, column: str) -> np.ndarray:
    """Differences of the booster's margin along a grid of ``column`` values, every other
    input fixed, one row per input row."""
    j = model.feature_names_.index(column)
    grid = np.quantile(matrix[:, j], np.linspace(0.0, 1.0, 12))
    margins = []
    for value in grid:
        varied = matrix.copy()
        varied[:, j] = value
        margins.append(model.tree_margin(varied))
    return np.diff(np.column_stack(margins), axis=1)


def test_distributed_final_fit_trains_one_booster_across_two_workers(
    home: Path, cluster: ClusterFactory
) -> None:
    """``[model] distributed = true`` on two workers: LightGBM's DaskLGBMClassifier trains
    one booster from per-symbol row partitions built on the workers, with the same
    parameters, monotone constraints and Parkinson base margin (init_score). Not
    bit-identical to the local booster (data-parallel histograms and per-worker bagging);
    measured in sample on these 26,127 rows (BTC, ETH and pooled SOL; local log loss
    0.2615): log loss 0.0011 and Brier 0.00024 apart, mean absolute probability
    difference 0.014, 99th percentile 0.10, largest 0.22 (a few rows fall on the other
    side of a split)."""
    settings = load_settings({"home": home / "home"})
    spec = dataclasses.replace(parse_spec(DISTRIBUTED_SPEC), tuning_folds=1)
    assert spec.distributed
    local_fit = fit_spec(spec, _feature_store(home), settings, trials=0)
    c = cluster(2)
    remote = fit_spec(
        spec, _feature_store(home), dataclasses.replace(settings, cluster=c.address), trials=0
    )
    a, b = local_fit.predictor.model, remote.predictor.model
    assert isinstance(a, DrawdownSurface)
    assert isinstance(b, DrawdownSurface)
    assert b.calibration_report_["fit"] == "lightgbm.dask"
    assert "fit" not in a.calibration_report_
    assert b.n_iter_ == a.n_iter_ == 40
    assert b.feature_names_ == a.feature_names_
    assert b.tree_features_ == a.tree_features_
    assert b.booster_ is not None
    assert a.booster_ is not None
    assert b.booster_.model_to_string() != a.booster_.model_to_string()
    assert local_fit.metrics == remote.metrics  # the folds are scored alike either way

    rows = build_frame(spec.frame, _feature_store(home)).labelled
    x = rows[list(local_fit.predictor.input_columns)]
    y = rows["label"].to_numpy()
    pa, pb = a.predict_proba(x)[:, 1], b.predict_proba(x)[:, 1]
    assert ((pb > 0) & (pb < 1)).all()
    measured = {
        "log_loss": abs(log_loss(pb, y) - log_loss(pa, y)),
        "brier": abs(brier_score(pb, y) - brier_score(pa, y)),
        "mean_abs_p": float(np.abs(pb - pa).mean()),
        "p99_abs_p": float(np.quantile(np.abs(pb - pa), 0.99)),
    }
    print(
        f"distributed vs local on {len(rows)} rows: {measured}, local log loss "
        f"{log_loss(pa, y):.4f}, max |dp| {np.abs(pb - pa).max():.3f}"
    )
    for name, tolerance in DISTRIBUTED_TOLERANCE.items():
        assert measured[name] <= tolerance, (name, measured)
    np.testing.assert_allclose(b.base_margin(b.to_matrix(x)), a.base_margin(a.to_matrix(x)))

    matrix = b.to_matrix(x.sample(300, random_state=0))
    for column, sign in DrawdownSurface.monotone.items():
        steps = _tree_margin_steps(b, matrix, column) * sign
        assert steps.min() >= -1e-12, column


def test_partitioned_backtest_holds_no_symbol_with_another_and_matches_the_local_one(
    home: Path, cluster: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``distributed = true`` spec on a cluster backtests each fold over partitions of
    symbols (one symbol each here): training rows selected per partition by the fold's
    TrainRule, one booster from LightGBM's Dask estimator, the pooled baselines fitted in
    the client on the columns without features, GARCH per partition. Every row, label
    and baseline probability equals the local backtest's; the model is the data-parallel
    booster, within the distributed fit's tolerance; the dense grid stays monotone."""
    from downside.workflows import _backtest, _partitioned

    monkeypatch.setattr(_partitioned, "PARTITION_SYMBOLS", 1)
    built: list[tuple[str, ...]] = []
    real = _partitioned.partitions

    def spy(symbols: list[str], size: int | None = None) -> list[tuple[str, ...]]:
        out = real(symbols, size)
        built.extend(out)
        return out

    monkeypatch.setattr(_partitioned, "partitions", spy)
    spec = parse_spec(DISTRIBUTED_SPEC)
    feature_store = _feature_store(home)
    local_result = run_backtest(spec, feature_store, start=START, end=END, n_boot=50)
    client_rows: list[Any] = []
    real_build = _backtest.build_frame

    def build_spy(*args: Any, **kwargs: Any) -> Any:
        client_rows.append(kwargs.get("symbols") or kwargs.get("asof"))
        return real_build(*args, **kwargs)

    monkeypatch.setattr(_backtest, "build_frame", build_spy)
    c = cluster(2)
    with connect(c.address) as engine:
        result = run_backtest(
            spec, _feature_store(home), start=START, end=END, n_boot=50, engine=engine
        )
    assert built
    assert all(len(p) == 1 for p in built)
    assert {s for p in built for s in p} == {"BTC", "ETH", "SOL"}
    # the client read the rows without features one partition at a time, and built
    # features only for the dense check's sampled as-of rows
    assert client_rows
    assert all(r is not None for r in client_rows)
    partitioned_reads = [r for r in client_rows if isinstance(r, list)]
    assert sorted(s for r in partitioned_reads for s in r) == ["BTC", "ETH", "SOL"]

    a, b = local_result.predictions, result.predictions
    baselines = [c for c in a.columns if c.startswith("p_") and c != "p_model"]
    assert list(b.columns) == list(a.columns)
    keys = [c for c in a.columns if not c.startswith("p_")]
    pd.testing.assert_frame_equal(b[keys], a[keys])
    for name in baselines:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-9, atol=1e-12, err_msg=name)
    fa, fb = local_result.losses, result.losses
    pd.testing.assert_frame_equal(
        fb[["symbol", "asof", "horizon_days", "n"]], fa[["symbol", "asof", "horizon_days", "n"]]
    )
    for name in (c[2:] for c in baselines):
        np.testing.assert_allclose(fb[name], fa[name], rtol=1e-9, atol=1e-12, err_msg=name)
    pd.testing.assert_frame_equal(
        result.folds[["fold", "n_train", "n_test"]],
        local_result.folds[["fold", "n_train", "n_test"]],
    )
    dp = np.abs(b["p_model"].to_numpy() - a["p_model"].to_numpy())
    print(f"partitioned vs local model: mean |dp| {dp.mean():.4f}, max {dp.max():.3f}")
    assert dp.mean() <= DISTRIBUTED_TOLERANCE["mean_abs_p"]
    assert not np.array_equal(b["p_model"].to_numpy(), a["p_model"].to_numpy())
    assert result.grid_points == local_result.grid_points > 0
    assert result.monotonicity_violations == local_result.monotonicity_violations == 0
