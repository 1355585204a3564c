"""Peak memory and time of the backtest's block-bootstrap interval (run on demand).

    .venv/bin/python benchmarks/bench_bootstrap.py [--rows 200000] [--n-boot 1000]
        [--block-length 1500] [--repeat 3]

Computes a 90% circular block-bootstrap interval of the Brier skill of a forecast
against climatology (``downside.evaluation.block_bootstrap_ci`` with ``brier_skill``,
as the backtest does) on ``--rows`` synthetic time-ordered rows; the default block of
1,500 rows is the backtest's for 50 rows per as-of day and a 30-day horizon. Each measurement runs
in a fresh subprocess, so the peak resident memory (``resource.getrusage``, Linux KiB)
is that of the interval alone on top of the interpreter and imports, reported beside
the baseline after imports and the peak of Python allocations during the call
(``tracemalloc``). Prints a table and writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(rows: int, n_boot: int, block_length: int) -> dict[str, float]:
    """One interval in this process: wall seconds, peak RSS and tracemalloc peak."""
    from downside.evaluation import block_bootstrap_ci, brier_skill

    rng = np.random.default_rng(0)
    p = rng.uniform(0.02, 0.6, rows)
    y = (rng.random(rows) < p).astype(np.float64)
    ref = np.full(rows, y.mean())
    block_bootstrap_ci(brier_skill, p[:1000], ref[:1000], y[:1000], block_length=10, n_boot=2)
    baseline = peak_rss_mb()
    tracemalloc.start()
    start = time.perf_counter()
    ci = block_bootstrap_ci(
        brier_skill, p, ref, y, block_length=block_length, n_boot=n_boot, seed=0
    )
    seconds = time.perf_counter() - start
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_and_data_mb": baseline,
        "tracemalloc_peak_mb": traced / 2**20,
        "skill": ci.estimate,
        "lower": ci.lower,
        "upper": ci.upper,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--block-length", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.rows, args.n_boot, args.block_length)))
        return
    runs = []
    load_before = os.getloadavg()[0]
    for _ in range(args.repeat):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                f"--rows={args.rows}",
                f"--n-boot={args.n_boot}",
                f"--block-length={args.block_length}",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    results: dict[str, float | int | str] = {
        "rows": args.rows,
        "n_boot": args.n_boot,
        "block_length": args.block_length,
        "cpus": os.cpu_count() or 0,
        "load_avg_1m_before": load_before,
    }
    for key in runs[0]:
        results[key] = statistics.median(r[key] for r in runs)
    results["seconds_min"] = min(r["seconds"] for r in runs)
    results["peak_rss_mb_max"] = max(r["peak_rss_mb"] for r in runs)
    results["load_avg_1m_after"] = os.getloadavg()[0]
    print(f"{'measure (median of runs)':<32}{'value':>16}")
    for key, value in results.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<32}{shown:>16}")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"bench_bootstrap-{stamp}.json"
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
