"""Benchmark of the feature store on the real data (run on demand, not a test).

    .venv/bin/python benchmarks/bench_features.py [--data DIR] [--rows N] [--repeat K]

Measures: ingest of the data folder, full feature build (all groups, cache written),
cache load by a fresh FeatureStore, and as-of retrieval throughput of ``get_features``
for all features on a spine of N rows (random symbols and microsecond as-of times in
random order, and a sorted hourly grid), plus the peak resident memory of the process
after each phase (it never decreases, so each value is the peak so far). Times are
wall-clock, with the CPU time of the process beside them; the load average before and
after is recorded, since the machine may be shared. Prints a table and
writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from downside.features import FeatureStore, load_definitions
from downside.store import DEFAULT_DAILY_VENUES, DEFAULT_HOURLY_VENUES, Store

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def feature_store(store: Store) -> FeatureStore:
    """The feature store of the repository's ``features/`` over ``store``."""
    return FeatureStore(
        store,
        load_definitions(ROOT / "features"),
        daily_venues=DEFAULT_DAILY_VENUES,
        hourly_venues=DEFAULT_HOURLY_VENUES,
    )


def random_spine(symbols: list[str], rows: int, seed: int) -> pd.DataFrame:
    """``rows`` random (symbol, asof) pairs: as-of times to the microsecond, 2016 to mid-2025."""
    rng = np.random.default_rng(seed)
    low = pd.Timestamp("2016-01-01", tz="UTC").value // 1000
    high = pd.Timestamp("2025-07-01", tz="UTC").value // 1000
    return pd.DataFrame(
        {
            "symbol": pd.array(np.array(symbols)[rng.integers(0, len(symbols), rows)], "str"),
            "asof": pd.to_datetime(rng.integers(low, high, rows), unit="us", utc=True),
        }
    )


def grid_spine(symbols: list[str], rows: int) -> pd.DataFrame:
    """Every symbol on an hourly grid ending 2025-07-01, symbol-major (sorted), ``rows`` rows."""
    per_symbol = -(-rows // len(symbols))
    times = pd.date_range(end="2025-07-01", periods=per_symbol, freq="h", tz="UTC").as_unit("us")
    spine = pd.DataFrame(
        {
            "symbol": pd.array(np.repeat(np.array(symbols), per_symbol), "str"),
            "asof": times.take(np.tile(np.arange(per_symbol), len(symbols))),
        }
    )
    return spine.iloc[:rows].reset_index(drop=True)


class Stopwatch:
    """Wall-clock and CPU seconds of a block; CPU time (this process, all threads) is
    what a busy shared machine disturbs least."""

    wall = 0.0
    cpu = 0.0

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def _timed(
    features: FeatureStore, spine: pd.DataFrame, repeat: int
) -> tuple[float, float, int, float]:
    """Median wall and CPU seconds of ``get_features`` (all features), output width and
    the share of non-NaN cells."""
    walls, cpus = [], []
    width, filled = 0, 0.0
    for _ in range(repeat):
        with Stopwatch() as clock:
            out = features.get_features(spine)
        walls.append(clock.wall)
        cpus.append(clock.cpu)
        width = out.shape[1] - 2
        filled = float(np.mean([out[name].notna().mean() for name in out.columns[2:]]))
        del out
    return statistics.median(walls), statistics.median(cpus), width, filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, float | int | str] = {
        "rows": args.rows,
        "data": str(args.data),
        "cpus": os.cpu_count() or 0,
        "load_avg_1m_before": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        store = Store(Path(tmp) / "store")
        with Stopwatch() as clock:
            report = store.ingest_files(args.data)
        results["ingest_s"], results["ingest_cpu_s"] = clock.wall, clock.cpu
        results["raw_rows"] = sum(t.rows_read for t in report.tables)
        results["raw_tables"] = len(report.tables)
        results["peak_rss_after_ingest_mb"] = peak_rss_mb()
        features = feature_store(store)
        with Stopwatch() as clock:
            features.build()
        results["build_s"], results["build_cpu_s"] = clock.wall, clock.cpu
        results["peak_rss_after_build_mb"] = peak_rss_mb()
        fresh = feature_store(store)
        with Stopwatch() as clock:
            symbols = fresh.symbols()
        results["cache_load_s"], results["cache_load_cpu_s"] = clock.wall, clock.cpu
        results["features"] = len(fresh.definitions)
        results["symbols"] = len(symbols)
        for label, spine in (
            ("random", random_spine(symbols, args.rows, 0)),
            ("hourly_grid", grid_spine(symbols, args.rows)),
        ):
            seconds, cpu, width, filled = _timed(fresh, spine, args.repeat)
            results[f"{label}_s"] = seconds
            results[f"{label}_rows_per_s"] = args.rows / seconds
            results[f"{label}_cpu_s"] = cpu
            results[f"{label}_rows_per_cpu_s"] = args.rows / cpu
            results[f"{label}_non_nan_share"] = filled
            results["output_columns"] = width
        results["output_mb"] = args.rows * int(results["output_columns"]) * 8 / 2**20
        results["peak_rss_mb"] = peak_rss_mb()
    results["load_avg_1m_after"] = os.getloadavg()[0]
    print(f"{'measure':<28}{'value':>16}")
    for key, value in results.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<28}{shown:>16}")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"bench_features-{stamp}.json"
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
