"""Benchmark of the feature store on the real data (run on demand, not a test).

    .venv/bin/python benchmarks/bench_features.py [--data DIR] [--rows N] [--repeat K]

Measures: ingest of the data folder, full feature build (all groups, cache written),
cache load by a fresh FeatureStore, and as-of retrieval throughput of ``get_features``
for all features on a spine of N rows (random symbols and microsecond as-of times in
random order, and a sorted hourly grid), plus peak resident memory. Prints a table and
writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from downside.config import DEFAULT_DAILY_VENUES, DEFAULT_HOURLY_VENUES
from downside.features import FeatureStore, load_definitions
from downside.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _feature_store(store: Store) -> FeatureStore:
    return FeatureStore(
        store,
        load_definitions(ROOT / "features"),
        daily_venues=DEFAULT_DAILY_VENUES,
        hourly_venues=DEFAULT_HOURLY_VENUES,
    )


def _random_spine(symbols: list[str], rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    low = pd.Timestamp("2016-01-01", tz="UTC").value // 1000
    high = pd.Timestamp("2025-07-01", tz="UTC").value // 1000
    return pd.DataFrame(
        {
            "symbol": pd.array(np.array(symbols)[rng.integers(0, len(symbols), rows)], "str"),
            "asof": pd.to_datetime(rng.integers(low, high, rows), unit="us", utc=True),
        }
    )


def _grid_spine(symbols: list[str], rows: int) -> pd.DataFrame:
    per_symbol = -(-rows // len(symbols))
    times = pd.date_range(end="2025-07-01", periods=per_symbol, freq="h", tz="UTC").as_unit("us")
    spine = pd.DataFrame(
        {
            "symbol": pd.array(np.repeat(np.array(symbols), per_symbol), "str"),
            "asof": times.take(np.tile(np.arange(per_symbol), len(symbols))),
        }
    )
    return spine.iloc[:rows].reset_index(drop=True)


def _timed(features: FeatureStore, spine: pd.DataFrame, repeat: int) -> tuple[float, int]:
    runs = []
    width = 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = features.get_features(spine)
        runs.append(time.perf_counter() - start)
        width = out.shape[1] - 2
        del out
    return statistics.median(runs), width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, float | int | str] = {"rows": args.rows, "data": str(args.data)}
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        store = Store(Path(tmp) / "store")
        start = time.perf_counter()
        store.ingest_files(args.data)
        results["ingest_s"] = time.perf_counter() - start
        features = _feature_store(store)
        start = time.perf_counter()
        features.build()
        results["build_s"] = time.perf_counter() - start
        fresh = _feature_store(store)
        start = time.perf_counter()
        symbols = fresh.symbols()
        results["cache_load_s"] = time.perf_counter() - start
        results["features"] = len(fresh.definitions)
        for label, spine in (
            ("random", _random_spine(symbols, args.rows, 0)),
            ("hourly_grid", _grid_spine(symbols, args.rows)),
        ):
            seconds, width = _timed(fresh, spine, args.repeat)
            results[f"{label}_s"] = seconds
            results[f"{label}_rows_per_s"] = args.rows / seconds
            results["output_columns"] = width
        results["output_mb"] = args.rows * int(results["output_columns"]) * 8 / 2**20
        results["peak_rss_mb"] = _peak_mb()
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
