"""Under load: the served champion and the Forecaster hit by many clients at once (run on
demand, not a test).

    .venv/bin/python benchmarks/bench_load.py [--home DIR] [--clients 32] [--duration 60]
        [--threads 32] [--only serve|forecaster]

Without ``--home`` it builds a temporary home first (as ``bench_latency.py`` does: the
seeded simulated market, features, both shipped specs trained with no tuning; about two
minutes). With ``--home`` it uses the champions registered there.

Two runs, both from a cold start (the clients start together on caches nobody has
filled yet), both checking every answer (``downside.testing.load``):

* ``forecaster``: ``--threads`` threads call one freshly loaded ``Forecaster`` for
  ``--duration`` seconds (drawdown surfaces and support breaks of three symbols at 12
  as-of times); each answer must equal a single-threaded Forecaster's exactly;
* ``serve``: ``mlflow models serve -m models:/downside-drawdown@champion --env-manager
  local`` (one uvicorn worker) and ``--clients`` HTTP clients, one connection each, for
  ``--duration`` seconds (12 requests: a symbol's full 25-cell grid or four named cells);
  every answer to a request must be byte-identical to its first one, and the first must
  equal the single-threaded Forecaster's to 1e-12.

Reports requests, errors, mismatches, throughput and p50/p99/max latency; prints a table
and writes JSON to ``benchmarks/results/`` with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_latency import build_home
from downside.api import Forecaster
from downside.config import load_settings
from downside.testing.load import (
    LoadReport,
    forecaster_load,
    served_expected,
    served_load,
    served_model,
)

ROOT = Path(__file__).resolve().parents[1]


def run_forecaster(threads: int, duration_s: float) -> LoadReport:
    alone = Forecaster.load()
    return forecaster_load(Forecaster.load(), alone, clients=threads, duration_s=duration_s)


def run_serve(clients: int, duration_s: float, log: Path) -> LoadReport:
    settings = load_settings()
    expected = served_expected(Forecaster.load(support_uri=None))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.resolved_registry_uri,
    }
    with served_model("models:/downside-drawdown@champion", env=env, log=log) as url:
        report, _ = served_load(url, expected, clients=clients, duration_s=duration_s)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="a DOWNSIDE_HOME with registered champions")
    parser.add_argument("--clients", type=int, default=32, help="HTTP clients of the server")
    parser.add_argument("--threads", type=int, default=32, help="threads calling the Forecaster")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--only", choices=("serve", "forecaster"), help="run one of the two")
    args = parser.parse_args()

    for key, value in {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }.items():
        os.environ.setdefault(key, value)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        if args.home is None:
            print("building a temporary home (simulated market, both specs trained)...")
            build_home(Path(tmp) / "downside")
        else:
            os.environ["DOWNSIDE_HOME"] = str(args.home)
        load_before = os.getloadavg()
        results: dict[str, Any] = {}
        if args.only in (None, "forecaster"):
            results["forecaster"] = run_forecaster(args.threads, args.duration)
        if args.only in (None, "serve"):
            results["serve"] = run_serve(args.clients, args.duration, Path(tmp) / "serve.log")
        load_after = os.getloadavg()

    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print("| run | clients | duration | requests | errors | mismatches | req/s | p50 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r.clients} | {r.duration_s:.1f} s | {r.requests:,} | {r.errors} | "
            f"{r.mismatches} | {r.throughput:.1f} | {r.p50_ms:.0f} ms | {r.p99_ms:.0f} ms | "
            f"{r.max_ms:.0f} ms |"
        )
        if r.first_problem:
            print(f"  first problem: {r.first_problem}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = ROOT / "benchmarks" / "results" / f"bench_load-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "load_average_before": load_before,
                "load_average_after": load_after,
                "cpus": os.cpu_count(),
                **{name: r.as_dict() for name, r in results.items()},
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
