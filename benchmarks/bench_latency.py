"""Latency of `downside.Forecaster` queries with the models loaded (run on demand, not a test).

    .venv/bin/python benchmarks/bench_latency.py [--home DIR] [--queries 200] [--repeat 3]

Without ``--home`` it builds a temporary home first: the seeded simulated market,
ingested, features built, and both models trained with the shipped specs (300 rounds,
no tuning, one scoring fold; about two minutes). With ``--home`` it uses the champions
registered there (e.g. after ``make quickstart``).

Measures, after loading the models:

* the first query (it builds the in-memory caches: prices and volatility, daily
  features, grouped TreeSHAP tables);
* ``--queries`` single queries, one symbol over the full (threshold, horizon) grid, each
  at a different daily as-of time drawn at random from the last two years (no answer is
  reused), then the same at hourly (non-midnight) as-of times, which read the feature
  store instead of the daily cache;
* batches of 10,000 answer rows: 400 daily as-of times x the 25-cell grid, and 10,000
  hourly as-of times x one cell (X = 10%, H = 7 days), median of ``--repeat`` runs.

Wall time (``time.perf_counter``) and CPU time of this process (``time.process_time``;
the machine may be shared, so the load average is recorded too). Prints a table and
writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from downside import api
from downside.config import Settings, load_settings
from downside.features import FeatureStore
from downside.sources import simulate_market
from downside.store import Store

ROOT = Path(__file__).resolve().parents[1]


def build_home(home: Path) -> Settings:
    """Simulate, ingest, build features and train both shipped specs into ``home``."""
    os.environ["DOWNSIDE_HOME"] = str(home)  # also for MLflow's check of the input example
    settings = load_settings()
    sim = simulate_market(home.parent / "market", seed=settings.seed)
    Store.from_settings(settings).ingest_files(sim.out_dir)
    FeatureStore.from_settings(settings).build()
    for name in ("drawdown", "support"):
        api.train(name, trials=0, folds=1, settings=settings)
    return settings


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    wall = np.array([s[0] for s in samples]) * 1000
    cpu = np.array([s[1] for s in samples]) * 1000
    return {
        "n": len(samples),
        "wall_p50_ms": float(np.percentile(wall, 50)),
        "wall_p90_ms": float(np.percentile(wall, 90)),
        "wall_p99_ms": float(np.percentile(wall, 99)),
        "cpu_p50_ms": float(np.percentile(cpu, 50)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=None, help="existing DOWNSIDE_HOME")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--symbol", default="BTC")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        if args.home is None:
            started = time.perf_counter()
            settings = build_home(Path(tmp) / "home")
            print(f"built a home with trained models in {time.perf_counter() - started:.0f} s")
        else:
            settings = load_settings({"home": args.home})
        started = time.perf_counter()
        fc = api.Forecaster.load(settings=settings)
        load_s = time.perf_counter() - started
        assert fc.drawdown is not None
        trees = fc.drawdown.model.booster_.num_trees()
        latest = fc.feature_store.latest_asof(args.symbol)
        first = timed(lambda: fc.predict_drawdown(args.symbol, asof=latest))
        rng = np.random.default_rng(args.seed)
        days = pd.date_range(end=latest, periods=730, freq="D")
        daily = [days[i] for i in rng.permutation(len(days))[: args.queries]]
        hours = pd.date_range(end=latest, periods=730 * 24, freq="h")
        hourly = [hours[i] for i in rng.choice(len(hours), args.queries, replace=False)]
        hourly = [h for h in hourly if h.hour != 0] or hourly
        fc.predict_drawdown(args.symbol, asof=daily[0])
        single_daily = [timed(lambda t=t: fc.predict_drawdown(args.symbol, asof=t)) for t in daily]
        single_hourly = [
            timed(lambda t=t: fc.predict_drawdown(args.symbol, asof=t)) for t in hourly
        ]
        out = fc.predict_drawdown(args.symbol, asof=daily[0])
        grid_rows = len(out)
        batch_grid = pd.date_range(end=latest, periods=400, freq="D")
        batch_cell = pd.date_range(end=latest, periods=10_000, freq="h")
        grid_runs = [
            timed(lambda: fc.predict_drawdown(args.symbol, asof=batch_grid))
            for _ in range(args.repeat)
        ]
        cell_runs = [
            timed(
                lambda: fc.predict_drawdown(
                    args.symbol, asof=batch_cell, thresholds=[0.10], horizons=[7]
                )
            )
            for _ in range(args.repeat)
        ]
        n_grid = len(fc.predict_drawdown(args.symbol, asof=batch_grid))
        n_cell = len(
            fc.predict_drawdown(args.symbol, asof=batch_cell, thresholds=[0.10], horizons=[7])
        )
    result = {
        "benchmark": "bench_latency",
        "when": pd.Timestamp.now(tz="UTC").isoformat(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "model_trees": trees,
        "grid_rows_per_query": grid_rows,
        "forecaster_load_s": load_s,
        "first_query_s": first[0],
        "single_query_daily_asof": summary(single_daily),
        "single_query_hourly_asof": summary(single_hourly),
        "batch_400_asof_x_grid": {
            "rows": n_grid,
            "wall_median_s": statistics.median(r[0] for r in grid_runs),
            "cpu_median_s": statistics.median(r[1] for r in grid_runs),
        },
        "batch_10000_asof_x_1_cell": {
            "rows": n_cell,
            "wall_median_s": statistics.median(r[0] for r in cell_runs),
            "cpu_median_s": statistics.median(r[1] for r in cell_runs),
        },
    }
    rows = [
        ("model", f"{trees} trees; {grid_rows} rows per single query"),
        ("Forecaster.load", f"{load_s:.2f} s"),
        ("first query (builds caches)", f"{first[0]:.2f} s"),
    ]
    for label, key in (
        ("single query, daily as-of", "single_query_daily_asof"),
        ("single query, hourly as-of", "single_query_hourly_asof"),
    ):
        s = result[key]
        assert isinstance(s, dict)
        rows.append(
            (
                label,
                f"p50 {s['wall_p50_ms']:.1f} ms, p90 {s['wall_p90_ms']:.1f} ms, "
                f"p99 {s['wall_p99_ms']:.1f} ms (CPU p50 {s['cpu_p50_ms']:.1f} ms)",
            )
        )
    for label, key in (
        ("batch 400 as-of x 25 cells", "batch_400_asof_x_grid"),
        ("batch 10,000 as-of x 1 cell", "batch_10000_asof_x_1_cell"),
    ):
        b = result[key]
        assert isinstance(b, dict)
        rows.append(
            (
                label,
                f"{b['rows']:,} rows: {b['wall_median_s']:.2f} s (CPU {b['cpu_median_s']:.2f} s)",
            )
        )
    rows.append(("load average before/after", f"{load_before} / {result['load_average_after']}"))
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    target = ROOT / "benchmarks" / "results"
    target.mkdir(parents=True, exist_ok=True)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    path = target / f"bench_latency-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
