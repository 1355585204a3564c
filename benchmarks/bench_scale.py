"""How cost grows with the universe: feature build, pooled training and a backtest at
10, 50 and 200 simulated assets, in this process and on a Dask cluster of 1 and 2
workers on this machine (run on demand).

    .venv/bin/python benchmarks/bench_scale.py [--assets 10,50,200]
        [--engines local,dask1,dask2] [--profile] [--keep DIR]

Per universe size N: ``simulated_universe(N)`` (BTC, ETH, SOL, ALT004, ...) is simulated
over 2021-07-01..2025-06-30 and ingested into a fresh store (timed as set-up). Then, per
engine, each phase runs in a fresh client process (so its peak memory is its own) and,
for ``dask1``/``dask2``, on a freshly started ``dask scheduler`` with 1 or 2 ``dask
worker`` processes (``--nthreads 1 --no-nanny``; their peak memory is read from
``/proc/PID/status`` VmHWM when the phase ends; the workers import downside before the
clock starts, as on a running cluster):

- ``features``: the feature cache is deleted and rebuilt (``FeatureStore.build``; a task
  per 16 symbols plus the market-wide groups);
- ``train``: pooled training, the final fit of the scale spec (every asset scored, as-of
  days from 2022-01-01, thresholds 5/10/20 %, horizons 1 and 7 days, the shipped
  drawdown model's parameters and features): the rows built from the store and LightGBM
  fitted on every labelled row (one task);
- ``train-lgbdask`` (clusters only, not in the default ``--phases``): the same final
  fit with ``[model] distributed = true`` (base ``parkinson``, which a partition computes
  alone): one booster trained by LightGBM's ``DaskLGBMClassifier`` across the workers
  from per-symbol row partitions built on them (no worker holds every row);
- ``backtest``: ``run_backtest`` of that spec over 2024-07-01..2025-06-25 (two 180-day
  test blocks: one task per fold) with the eight baselines, the joint score and 200
  bootstrap replicates;
- ``backtest-partitioned`` (not in the default ``--phases``): the same backtest of the
  spec with ``distributed = true`` and base ``parkinson``; on a cluster each fold runs
  over partitions of 8 symbols (``downside.workflows._partitioned``: no process holds
  every symbol's rows; one booster per fold from LightGBM's Dask estimator), locally
  as the ``backtest`` phase does;
- ``backtest-pooled`` (not in the default ``--phases``): the partitioned backtest of
  that spec scoring BTC and ETH only, every other asset pooled into training (how the
  skill specs use many assets): the client's share then follows the scored assets.

With ``--profile``, the local backtest runs once more under cProfile (phase
``backtest-profile``) and the cumulative time of its main steps is reported (where the
time goes). Load averages are recorded before and after every measurement. Prints a
line per measurement and writes JSON to ``benchmarks/results/`` (rewritten after every
measurement, so an interrupted run keeps what it measured).

    .venv/bin/python benchmarks/bench_scale.py --plot RESULTS.json [MORE.json ...]
        [--png docs/scale.png]

reads results (a later file's measurement replaces an earlier one of the same size,
engine and phase), prints the table in Markdown, the least-squares line of each local
phase's time and peak memory in the number of assets and its projection to 1,000 hourly
assets, and draws the cost curve (time and peak memory per process against assets).
The projection: the feature build reads hourly bars already, so its cost is taken as
linear in assets; training and backtest rows are (as-of times) x assets x grid cells, so
an hourly as-of grid is 24 times the rows of the daily one per asset: 1,000 hourly
assets are projected as 24,000 daily-asset equivalents (far outside the measured range:
a rough order of magnitude, not a promise).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START, END = "2021-07-01", "2025-06-30"
WINDOW = ("2024-07-01", "2025-06-25")
PHASES = ("features", "train", "backtest")
SCORED = ("BTC", "ETH")
SPEC = """
name = "scale"
target = "drawdown"

[data]
symbols = {symbols}
freq = "1d"
start = "2022-01-01"

[grid]
thresholds = [0.05, 0.10, 0.20]
horizons_days = [1, 7]

[features]
families = ["leverage", "funding", "etf_flows", "rates", "technical"]
exclude = [
    "etf_flows.etf_flow_total",
    "etf_flows.etf_flow_total_sum_5obs",
    "etf_flows.etf_flow_total_sum_20obs",
    "leverage.long_liq",
    "leverage.short_liq",
    "leverage.leverage_ratio",
    "leverage.oi_per_dollar_volume_30d",
    "rates.dff",
    "rates.dgs2",
    "rates.dgs10",
    "rates.vixcls",
    "rates.bamlh0a0hym2",
]

[walk_forward]
scheme = "expanding"
test_days = 180
embargo_days = 1
min_train_days = 540

[model]
base = "vol_logistic"
n_estimators = 80
learning_rate = 0.03
num_leaves = 4
min_child_samples = 6000
feature_fraction = 0.5
bagging_fraction = 0.8
bagging_freq = 1
lambda_l2 = 200.0
calibration = "none"
"""
PROFILED = (
    ("rows: frame, fine-grid history, realized variance", "downside.workflows._backtest:_inputs"),
    ("folds, all steps", "downside.workflows._backtest:_run_fold"),
    ("  model fit and test predictions", "downside.models._fit:score_fold"),
    ("  baselines fit", "downside.workflows._baselines:FoldBaselines.fit"),
    ("    of which GJR-GARCH per symbol", "downside.models._volmodels:GarchFhs.fit"),
    ("  baselines predict", "downside.workflows._baselines:FoldBaselines.predict"),
    ("    climatology", "downside.models._baselines:Climatology.predict_proba"),
    ("    EWMA FHS", "downside.models._volmodels:EwmaFhsBaseline.predict_proba"),
    ("    GJR-GARCH FHS", "downside.models._volmodels:GarchFhs.predict_proba"),
    ("    HAR", "downside.models._volmodels:HarFirstPassage.predict_proba"),
    ("  climatology cells: a str per row", "downside.models._baselines:Climatology._cells"),
    ("  dense-grid monotonicity", "downside.workflows._backtest:_monotonicity"),
)
"""Steps of a backtest whose cumulative time ``--profile`` reports."""


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB: VmHWM, which starts afresh at
    exec (``ru_maxrss`` keeps the forking parent's peak across exec)."""
    return vm_hwm_mb(os.getpid())


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------------- cluster


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder = folder
        self.n_workers = workers
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        self.logs.append(log)
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dask"), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Cluster:
        file = self.folder / "scheduler.json"
        self._spawn(
            [
                *("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
                *("--scheduler-file", str(file)),
            ],
            "scheduler",
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                self.address = json.loads(file.read_text())["address"]
                break
            time.sleep(0.2)
        self.workers = [
            self._spawn(
                [
                    *("worker", "--scheduler-file", str(file), "--name", f"w{k}"),
                    *("--nthreads", "1", "--no-nanny", "--no-dashboard", "--memory-limit", "0"),
                    *("--host", "127.0.0.1", "--local-directory", str(self.folder / f"w{k}")),
                ],
                f"w{k}",
            )
            for k in range(self.n_workers)
        ]
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(self.n_workers, timeout=120)
        return self

    def worker_peaks(self) -> list[float]:
        return [vm_hwm_mb(p.pid) for p in self.workers]

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in self.logs:
            log.close()


# ---------------------------------------------------------------------------- phases


def _spec(home: Path) -> Any:
    from downside.models import load_spec

    return load_spec(home / "scale.toml", home)


def _distributed(spec: Any) -> Any:
    """The scale spec with ``[model] distributed = true`` and the ``parkinson`` base
    (which a partition computes alone)."""
    import dataclasses

    params = {**spec.model_params, "base": "parkinson"}
    return dataclasses.replace(spec, model_params=params, distributed=True)


def _pooled(spec: Any) -> Any:
    """The distributed scale spec scoring BTC and ETH only, every other asset pooled
    into training (what the skill specs do with a handful of assets)."""
    import dataclasses

    spec = _distributed(spec)
    rest = tuple(s for s in spec.frame.symbols if s not in SCORED)
    frame = dataclasses.replace(spec.frame, symbols=SCORED, pool_symbols=rest)
    return dataclasses.replace(spec, frame=frame)


def _feature_store(home: Path) -> Any:
    from downside.config import load_settings
    from downside.features import FeatureStore

    return FeatureStore.from_settings(load_settings({"home": home / "home"}))


@contextlib.contextmanager
def _engine(address: str | None) -> Iterator[Any]:
    from downside.workflows._engine import connect

    with connect(address) as engine:
        yield engine


def run_phase(phase: str, home: Path, address: str | None, profile: bool) -> dict[str, Any]:
    """One phase in this (fresh) process; returns seconds and peak memory."""
    import functools

    features = _feature_store(home)
    features.cache_key()
    out: dict[str, Any] = {"load_before": load()}
    with _engine(address) as engine:
        if not engine.is_local:  # a running cluster has its imports done (about 9 s here)
            for module in ("downside.workflows._backtest", "downside.workflows._fit"):
                engine.client.run(importlib.import_module, module)
        start = time.perf_counter()
        if phase == "features":
            shutil.rmtree(features.cache_dir, ignore_errors=True)
            mapper = None if engine.is_local else functools.partial(engine.map, label="features")
            features.build(mapper=mapper)
            out["partitions"] = len(features.partitions())
        elif phase == "train-lgbdask":
            from downside.workflows._fit import _fit_distributed

            model = _fit_distributed(_distributed(_spec(home)), features, {}, engine)
            out["trees"] = int(model.n_iter_)
        elif phase == "train":
            from downside.workflows._engine import FeatureStoreRef
            from downside.workflows._fit import _FinalFit

            task = _FinalFit(_spec(home), FeatureStoreRef.of(features), {})
            model = engine.map(task, [0], label="final-fit")[0]
            out["trees"] = int(model.n_iter_)
        else:
            from downside.workflows import run_backtest

            spec = _spec(home)
            if phase == "backtest-partitioned":
                spec = _distributed(spec)
            elif phase == "backtest-pooled":
                spec = _pooled(spec)
            runner = cProfile.Profile() if profile else None
            if runner is not None:
                runner.enable()
            result = run_backtest(
                spec, features, start=WINDOW[0], end=WINDOW[1], n_boot=200, engine=engine
            )
            if runner is not None:
                runner.disable()
                out["profile"] = _profile_shares(runner)
            out["folds"] = len(result.folds)
            out["forecasts"] = len(result.predictions)
            out["train_rows_last_fold"] = int(result.folds["n_train"].iloc[-1])
            out["joint_skill"] = float(result.joint_skill()["skill"])
        out["seconds"] = time.perf_counter() - start
    out["client_peak_rss_mb"] = peak_rss_mb()
    out["load_after"] = load()
    return out


def _profile_shares(runner: cProfile.Profile) -> dict[str, float]:
    """Cumulative seconds of the backtest's main steps under cProfile; the rest of
    ``run_backtest`` (joint score, bootstrap intervals, MCS, regimes, early warning) is
    ``scores and tables``."""
    import inspect

    table: dict[tuple[str, int, str], Any] = pstats.Stats(runner).stats  # type: ignore[attr-defined]

    def cumulative(target: str) -> float:
        module, _, name = target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        code = inspect.unwrap(obj).__code__
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        return float(table[key][3]) if key in table else 0.0

    found = {label: cumulative(target) for label, target in PROFILED}
    total = cumulative("downside.workflows._backtest:run_backtest")
    found["scores and tables"] = total - found[PROFILED[0][0]] - found[PROFILED[1][0]]
    found["total (under cProfile)"] = total
    return found


# ---------------------------------------------------------------------------- driver


def _universe(n: int) -> list[str]:
    from downside.sources import simulated_universe

    return list(simulated_universe(n))


def setup(n: int, folder: Path) -> dict[str, Any]:
    """Simulate and ingest a universe of ``n`` assets; write the scale spec."""
    from downside.config import load_settings
    from downside.sources import simulate_market, simulated_universe
    from downside.store import Store

    before = load()
    universe = simulated_universe(n)
    start = time.perf_counter()
    sim = simulate_market(
        folder / "market", start=START, end=END, symbols=list(universe), params=universe
    )
    simulated = time.perf_counter() - start
    start = time.perf_counter()
    Store.from_settings(load_settings({"home": folder / "home"})).ingest_files(sim.out_dir)
    ingested = time.perf_counter() - start
    shutil.rmtree(sim.out_dir)
    return {
        "simulate_s": simulated,
        "ingest_s": ingested,
        "rows": dict(sim.rows),
        "peak_rss_mb": peak_rss_mb(),
        "load_before": before,
        "load_after": load(),
    }


def measure(phase: str, home: Path, engine: str, profile: bool) -> dict[str, Any]:
    """Run one phase in a fresh client process, on a fresh cluster for dask engines."""
    args = [sys.executable, __file__, "--phase", phase, "--home", str(home)]
    if profile:
        args.append("--profile")
    if engine == "local":
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        peaks: list[float] = []
    else:
        folder = Path(tempfile.mkdtemp(prefix="cluster-", dir=home))
        with Cluster(folder, int(engine.removeprefix("dask"))) as cluster:
            done = subprocess.run(
                [*args, "--address", cluster.address], capture_output=True, text=True, check=False
            )
            peaks = cluster.worker_peaks()
        shutil.rmtree(folder, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{phase} on {engine} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["worker_peak_rss_mb"] = peaks
    return result


PROJECTED_ASSETS = 1000
HOURS_PER_DAY = 24


def _merge(paths: list[Path]) -> dict[tuple[int, str, str], dict[str, Any]]:
    """Measurements by (assets, engine, phase); later files win."""
    rows: dict[tuple[int, str, str], dict[str, Any]] = {}
    for path in paths:
        for run in json.loads(path.read_text(encoding="utf-8"))["runs"]:
            if run["phase"] != "setup":
                rows[(run["assets"], run["engine"], run["phase"])] = run
    return rows


def _peak(run: dict[str, Any]) -> float:
    """Peak memory of the process that held the phase's data: the client locally, the
    largest worker on a cluster."""
    return float(max([run["client_peak_rss_mb"], *run["worker_peak_rss_mb"]]))


def _line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``."""
    import numpy as np

    b, a = np.polyfit(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), 1)
    return float(a), float(b)


def report(paths: list[Path], png: Path) -> None:
    """Markdown table, projection and cost-curve plot of bench_scale results."""
    rows = _merge(paths)
    print("| assets | engine | phase | seconds | client peak MB | worker peaks MB | load 1 min |")
    print("|---:|---|---|---:|---:|---:|---|")
    engines = ("local", "dask1", "dask2")
    phases = (
        "features",
        "train",
        "train-lgbdask",
        "backtest",
        "backtest-partitioned",
        "backtest-pooled",
        "backtest-profile",
    )

    def order(key: tuple[int, str, str]) -> tuple[int, int, int]:
        return key[0], phases.index(key[2]), engines.index(key[1])

    for (n, engine, phase), run in sorted(rows.items(), key=lambda kv: order(kv[0])):
        workers = " / ".join(f"{v:,.0f}" for v in run["worker_peak_rss_mb"]) or "-"
        loads = f"{run['load_before'][0]:.1f} -> {run['load_after'][0]:.1f}"
        print(
            f"| {n} | {engine} | {phase} | {run['seconds']:,.1f} | "
            f"{run['client_peak_rss_mb']:,.0f} | {workers} | {loads} |"
        )
    print()
    print(f"Projection to {PROJECTED_ASSETS:,} hourly assets (least squares on local runs):")
    for phase in PHASES:
        local = sorted((n, r) for (n, e, p), r in rows.items() if e == "local" and p == phase)
        if len(local) < 2:
            continue
        xs = [float(n) for n, _ in local]
        t_a, t_b = _line(xs, [r["seconds"] for _, r in local])
        m_a, m_b = _line(xs, [_peak(r) for _, r in local])
        scale = PROJECTED_ASSETS * (1 if phase == "features" else HOURS_PER_DAY)
        print(
            f"- {phase}: seconds = {t_a:.1f} + {t_b:.3f} x N, peak MB = {m_a:.0f} + "
            f"{m_b:.2f} x N; N = {scale:,}: {(t_a + t_b * scale) / 3600:,.1f} h, "
            f"{(m_a + m_b * scale) / 1024:,.1f} GB"
        )
    for phase in ("train-lgbdask", "backtest-partitioned", "backtest-pooled"):
        for engine in ("dask1", "dask2"):
            runs = sorted((n, r) for (n, e, p), r in rows.items() if e == engine and p == phase)
            if len(runs) < 2:
                continue
            xs = [float(n) for n, _ in runs]
            t_a, t_b = _line(xs, [r["seconds"] for _, r in runs])
            m_a, m_b = _line(xs, [max(r["worker_peak_rss_mb"]) for _, r in runs])
            c_a, c_b = _line(xs, [r["client_peak_rss_mb"] for _, r in runs])
            scale = PROJECTED_ASSETS * HOURS_PER_DAY
            print(
                f"- {phase} on {engine}: seconds = {t_a:.1f} + {t_b:.3f} x N, largest "
                f"worker peak MB = {m_a:.0f} + {m_b:.2f} x N, client peak MB = {c_a:.0f} + "
                f"{c_b:.2f} x N; N = {scale:,}: {(t_a + t_b * scale) / 3600:,.1f} h, "
                f"workers {(m_a + m_b * scale) / 1024:,.1f} GB each, client "
                f"{(c_a + c_b * scale) / 1024:,.1f} GB"
            )
    if "backtest-profile" in {p for (_, _, p) in rows}:
        print()
        print("Where the local backtest's time goes (cProfile, cumulative seconds):")
        profiled = sorted((n, r) for (n, _, p), r in rows.items() if p == "backtest-profile")
        print("| step | " + " | ".join(f"{n} assets" for n, _ in profiled) + " |")
        print("|---|" + "---:|" * len(profiled))
        for step in profiled[0][1]["profile"]:
            cells = " | ".join(f"{r['profile'][step]:,.1f}" for _, r in profiled)
            print(f"| {step} | {cells} |")
    _plot(rows, png)
    print(f"\nwrote {png}")


def _plot(rows: dict[tuple[int, str, str], dict[str, Any]], png: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=110)
    FigureCanvasAgg(fig)
    time_ax, mem_ax = fig.subplots(1, 2)
    styles = {"local": "-", "dask1": "--", "dask2": ":"}
    colors = {
        "features": "tab:blue",
        "train": "tab:orange",
        "train-lgbdask": "tab:red",
        "backtest": "tab:green",
        "backtest-partitioned": "tab:purple",
        "backtest-pooled": "tab:brown",
    }
    for phase in colors:
        for engine, style in styles.items():
            points = sorted((n, r) for (n, e, p), r in rows.items() if e == engine and p == phase)
            if not points:
                continue
            xs = [n for n, _ in points]
            label = f"{phase}, {engine}"
            time_ax.plot(
                xs,
                [r["seconds"] for _, r in points],
                style,
                marker="o",
                color=colors[phase],
                label=label,
            )
            mem_ax.plot(
                xs,
                [_peak(r) / 1024 for _, r in points],
                style,
                marker="o",
                color=colors[phase],
                label=label,
            )
    for ax, title in ((time_ax, "wall time, s"), (mem_ax, "peak memory of one process, GB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("simulated assets")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    time_ax.legend(fontsize=7, ncol=1)
    fig.suptitle("bench_scale.py: cost against universe size (2 cores, shared machine)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, format="png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", default="10,50,200")
    parser.add_argument("--engines", default="local,dask1,dask2")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores here")
    parser.add_argument("--plot", type=Path, nargs="+", help="report and plot these results")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "scale.png")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.home, args.address, args.profile)))
        return
    if args.plot:
        report(args.plot, args.png)
        return
    results: dict[str, Any] = {"cpus": os.cpu_count(), "argv": sys.argv[1:], "runs": []}
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out / f"bench_scale-{stamp}.json"

    def record(row: dict[str, Any]) -> None:
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    for n in [int(v) for v in args.assets.split(",")]:
        home = base / f"n{n}"
        if not (home / "home" / "store").is_dir():
            home.mkdir(parents=True, exist_ok=True)
            record({"assets": n, "phase": "setup", **setup(n, home)})
        names = "[" + ", ".join(f'"{s}"' for s in _universe(n)) + "]"
        (home / "scale.toml").write_text(SPEC.format(symbols=names), encoding="utf-8")
        runs = [(e, p, False) for e in args.engines.split(",") for p in args.phases.split(",")]
        if args.profile:
            runs.append(("local", "backtest", True))
        for engine, phase, profile in runs:
            row = {"assets": n, "engine": engine, "phase": phase + "-profile" * profile}
            row.update(measure(phase, home, engine, profile))
            record(row)
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
