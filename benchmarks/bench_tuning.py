"""Benchmark of tuning throughput: trials per minute with 1 and 2 worker processes
(run on demand, not a test).

    .venv/bin/python benchmarks/bench_tuning.py [--trials 12] [--workers 1,2]
        [--storage postgresql+psycopg://user:pw@host:5432/db] [--start ...] [--end ...]

Every configuration tunes a fresh study of the same small drawdown spec (BTC and ETH,
2 x 2 threshold/horizon grid, one walk-forward fold of 60 days) on the same simulated
market, through ``downside.api.tune`` as ``downside tune --workers N`` runs it: parent
MLflow run, one nested run per trial, spawned worker processes. Storages: a fresh SQLite
file, plus PostgreSQL when ``--storage`` or ``DOWNSIDE_TEST_POSTGRES_URL`` gives a URL
(its benchmark studies are deleted afterwards).

Reported per configuration: wall time of the whole call (includes spawning and importing
in the extra workers), trials per minute over that wall time and over the span from the
first trial's start to the last trial's end, mean trial duration, and trials per worker.
Prints a table and writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from mlflow.tracking import MlflowClient

from downside import api
from downside.config import load_settings
from downside.features import FeatureStore
from downside.models import close_study
from downside.sources import simulate_market
from downside.store import Store

ROOT = Path(__file__).resolve().parents[1]
SPEC = """name = "{name}"
target = "drawdown"

[data]
symbols = ["BTC", "ETH"]
freq = "1d"

[grid]
thresholds = [0.05, 0.10]
horizons_days = [1, 7]

[walk_forward]
scheme = "expanding"
test_days = 60
embargo_days = 1
min_train_days = 360

[tuning]
trials = 12
folds = 1
seed = 7
"""


def _template(root: Path, start: str, end: str) -> Path:
    """A home with the simulated market ingested, features built and MLflow tables made."""
    sim = simulate_market(root / "market", start=start, end=end, symbols=("BTC", "ETH"))
    settings = load_settings({"home": root / "template", "feature_dir": ROOT / "features"})
    Store.from_settings(settings).ingest_files(sim.out_dir)
    FeatureStore.from_settings(settings).build()
    MlflowClient(settings.resolved_tracking_uri).search_experiments()
    return settings.home


def _run(
    template: Path, root: Path, storage: str | None, workers: int, trials: int
) -> dict[str, Any]:
    name = f"bench-{workers}w-{uuid.uuid4().hex[:8]}"
    home = root / name
    shutil.copytree(template, home)
    spec = root / f"{name}.toml"
    spec.write_text(SPEC.format(name=name), encoding="utf-8")
    settings = load_settings(
        {"home": home, "feature_dir": ROOT / "features", "optuna_storage": storage}
    )
    started = time.perf_counter()
    result = api.tune(spec, trials=trials, workers=workers, settings=settings)
    wall = time.perf_counter() - started
    study = optuna.load_study(
        study_name=f"downside-{name}", storage=settings.resolved_optuna_storage
    )
    try:
        done = [t for t in study.get_trials() if t.datetime_complete and t.datetime_start]
        if storage is not None:
            optuna.delete_study(study_name=study.study_name, storage=storage)
    finally:
        close_study(study)
    first = min(t.datetime_start for t in done if t.datetime_start)
    last = max(t.datetime_complete for t in done if t.datetime_complete)
    span = (last - first).total_seconds()
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in done
        if t.datetime_complete and t.datetime_start
    ]
    finished = result.n_complete + result.n_pruned
    per_worker = Counter(str(t.user_attrs.get("worker", "?")) for t in done)
    return {
        "storage": "postgresql" if storage else "sqlite",
        "workers": workers,
        "finished_trials": finished,
        "failed_trials": result.n_failed,
        "wall_s": wall,
        "trials_per_min_wall": 60 * finished / wall,
        "trial_span_s": span,
        "trials_per_min_span": 60 * finished / span,
        "mean_trial_s": statistics.mean(durations),
        "trials_per_worker": dict(sorted(per_worker.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument(
        "--storage",
        default=os.environ.get("DOWNSIDE_TEST_POSTGRES_URL"),
        help="extra Optuna storage URL (default: $DOWNSIDE_TEST_POSTGRES_URL, if set)",
    )
    parser.add_argument("--start", default="2022-01-01")
    parser.add_argument("--end", default="2024-06-30")
    args = parser.parse_args()
    # every run gets its own home, SQLite MLflow database and Optuna study
    for var in ("HOME", "CONFIG", "TRACKING_URI", "REGISTRY_URI", "OPTUNA_STORAGE"):
        os.environ.pop(f"DOWNSIDE_{var}", None)
    worker_counts = [int(w) for w in args.workers.split(",")]
    storages: list[str | None] = [None] if not args.storage else [None, args.storage]
    meta: dict[str, Any] = {
        "trials": args.trials,
        "market": f"simulated BTC, ETH {args.start}..{args.end}",
        "spec": "drawdown, 2 thresholds x 2 horizons, 1 fold of 60 days, LightGBM 1 thread",
        "cpus": os.cpu_count() or 0,
        "load_avg_1m_before": os.getloadavg()[0],
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-tuning-") as tmp:
        root = Path(tmp)
        template = _template(root, args.start, args.end)
        for storage in storages:
            for workers in worker_counts:
                rows.append(_run(template, root, storage, workers, args.trials))
                print(
                    f"  {rows[-1]['storage']:<11} {workers} worker(s): {rows[-1]['wall_s']:.1f} s",
                    flush=True,
                )
    meta["load_avg_1m_after"] = os.getloadavg()[0]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:,.2f}"))
    for key, value in meta.items():
        print(f"{key}: {value}")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"bench_tuning-{stamp}.json"
    path.write_text(json.dumps({**meta, "runs": rows}, indent=2), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
