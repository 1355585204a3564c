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

The same retrieval (same cached group tables, same spines, same output: a pandas frame
of ``symbol, asof`` and every feature in spine order, NaN past each feature's TTL) is
also done by the general-purpose as-of joins, each checked cell by cell against
``get_features``: pandas ``merge_asof``, DuckDB ``ASOF LEFT JOIN`` (native tables; it
may use every core) and polars ``join_asof``, one join per group. The group tables are
loaded and sorted once beforehand, as the feature store does when it loads its cache;
spine sorting is timed for everyone.
``--baselines none`` skips them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl

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


MARKET_VALUE = "*"
"""Entity of market-wide groups (rates, ETF flows): joined on time only."""


@dataclass(frozen=True)
class GroupTable:
    """One cached feature group, sorted by ``available_ts``, for the baselines."""

    name: str
    frame: pd.DataFrame
    features: tuple[str, ...]
    ttl_us: tuple[int, ...]
    market_wide: bool


def group_tables(features: FeatureStore) -> list[GroupTable]:
    """The group tables ``get_features`` reads, from the feature store's cache."""
    cache = features.cache_dir / features.cache_key()
    meta = json.loads((cache / "manifest.json").read_text(encoding="utf-8"))
    ttl = {d.name: int(d.ttl_value.value // 1000) for d in features.definitions}
    tables = []
    for group_id in meta["groups"]:
        frame = pd.read_parquet(cache / f"{group_id}.parquet")
        names = tuple(c for c in frame.columns if c in ttl)
        frame = frame.sort_values("available_ts", kind="stable").reset_index(drop=True)
        frame["entity"] = frame["entity"].astype("str")
        tables.append(
            GroupTable(
                group_id,
                frame,
                names,
                tuple(ttl[n] for n in names),
                bool((frame["entity"] == MARKET_VALUE).all()),
            )
        )
    return tables


def _expire(values: np.ndarray, value_us: np.ndarray, asof_us: np.ndarray, ttl: int) -> None:
    """NaN where the value is older than its TTL at the as-of time (in place)."""
    with np.errstate(invalid="ignore"):
        values[(value_us == np.iinfo(np.int64).min) | (asof_us > value_us + ttl)] = np.nan


def _us(values: pd.Series) -> np.ndarray:
    return np.asarray(values.to_numpy(dtype="datetime64[us]").view("int64"))


def pandas_asof(spine: pd.DataFrame, groups: list[GroupTable]) -> pd.DataFrame:
    """``get_features`` with one ``pandas.merge_asof`` per group."""
    order = np.argsort(spine["asof"].to_numpy(), kind="stable")
    left = spine.iloc[order].reset_index(drop=True)
    asof_us = _us(left["asof"])
    columns: dict[str, np.ndarray] = {}
    for group in groups:
        right = group.frame
        merged = pd.merge_asof(
            left[["symbol", "asof"]],
            right.drop(columns="event_ts"),
            left_on="asof",
            right_on="available_ts",
            left_by=None if group.market_wide else "symbol",
            right_by=None if group.market_wide else "entity",
            direction="backward",
        )
        for name, ttl in zip(group.features, group.ttl_us, strict=True):
            values = merged[name].to_numpy(dtype=np.float64, copy=True)
            _expire(values, _us(merged[f"{name}@ts"]), asof_us, ttl)
            columns[name] = values
    out = np.empty(len(order), dtype=np.int64)
    out[order] = np.arange(len(order))
    frame = pd.DataFrame({n: v[out] for n, v in columns.items()})
    frame.insert(0, "asof", spine["asof"].to_numpy())
    frame.insert(0, "symbol", spine["symbol"].to_numpy())
    return frame


def duckdb_asof(
    con: duckdb.DuckDBPyConnection, spine: pd.DataFrame, groups: list[GroupTable]
) -> pd.DataFrame:
    """``get_features`` with DuckDB: one ``ASOF LEFT JOIN`` query per group (one query
    chaining all 21 joins took about 7 times as long: every join carries the columns
    of the joins before it)."""
    con.register("spine", spine.assign(_row=np.arange(len(spine))))
    parts = [spine[["symbol", "asof"]].reset_index(drop=True)]
    for k, group in enumerate(groups):
        key = "" if group.market_wide else f"s.symbol = g{k}.entity AND "
        selects = ", ".join(
            f'CASE WHEN s.asof <= g{k}."{name}@ts" + INTERVAL {ttl} MICROSECOND '
            f'THEN g{k}."{name}" END AS "{name}"'
            for name, ttl in zip(group.features, group.ttl_us, strict=True)
        )
        parts.append(
            con.sql(
                f"SELECT {selects} FROM spine s ASOF LEFT JOIN g{k} "
                f"ON {key}s.asof >= g{k}.available_ts ORDER BY s._row"
            ).df()
        )
    con.unregister("spine")
    return pd.concat(parts, axis=1)


def polars_tables(groups: list[GroupTable]) -> list[pl.DataFrame]:
    """The group tables as polars frames (converted once, like a loaded cache)."""
    return [
        pl.from_pandas(g.frame.drop(columns=["event_ts", *(["entity"] if g.market_wide else [])]))
        for g in groups
    ]


def polars_asof(
    spine: pd.DataFrame, groups: list[GroupTable], tables: list[pl.DataFrame]
) -> pd.DataFrame:
    """``get_features`` with one polars ``join_asof`` per group."""
    left = pl.from_pandas(spine[["symbol", "asof"]]).with_row_index("_row").sort("asof")
    for group, right in zip(groups, tables, strict=True):
        stamps = [f"{n}@ts" for n in group.features]
        left = left.join_asof(
            right,
            left_on="asof",
            right_on="available_ts",
            by_left=None if group.market_wide else "symbol",
            by_right=None if group.market_wide else "entity",
            strategy="backward",
            check_sortedness=False,
        )
        left = left.with_columns(
            pl.when(pl.col("asof") <= pl.col(s) + pl.duration(microseconds=ttl))
            .then(pl.col(n))
            .alias(n)
            for n, s, ttl in zip(group.features, stamps, group.ttl_us, strict=True)
        ).drop([*stamps, "available_ts", "entity"], strict=False)
    return left.sort("_row").drop("_row").to_pandas()


def duckdb_tables(groups: list[GroupTable]) -> duckdb.DuckDBPyConnection:
    """A DuckDB database holding the group tables as native tables ``g0, g1, ...``."""
    con = duckdb.connect()
    for k, group in enumerate(groups):
        frame = group.frame.drop(columns="event_ts")
        con.register("frame", frame)
        con.execute(f"CREATE TABLE g{k} AS SELECT * FROM frame ORDER BY available_ts")
        con.unregister("frame")
    return con


def _mismatches(ours: pd.DataFrame, theirs: pd.DataFrame) -> int:
    """Cells of the feature columns that differ (NaN equals NaN)."""
    bad = 0
    for name in ours.columns[2:]:
        a = ours[name].to_numpy(dtype=np.float64)
        b = theirs[name].to_numpy(dtype=np.float64)
        bad += int((~((a == b) | (np.isnan(a) & np.isnan(b)))).sum())
    return bad


def _timed_baseline(
    run: Callable[[], pd.DataFrame], reference: pd.DataFrame, repeat: int
) -> tuple[float, float, int]:
    """Median wall and CPU seconds of ``run`` and its mismatching cells against
    ``get_features``."""
    walls, cpus = [], []
    bad = -1
    for _ in range(repeat):
        with Stopwatch() as clock:
            out = run()
        walls.append(clock.wall)
        cpus.append(clock.cpu)
        if bad < 0:
            bad = _mismatches(reference, out)
        del out
    return statistics.median(walls), statistics.median(cpus), bad


def baselines(
    features: FeatureStore, spines: dict[str, pd.DataFrame], repeat: int
) -> dict[str, float | int]:
    """Seconds, CPU seconds, rows/s and mismatching cells of each general-purpose as-of
    join on each spine."""
    groups = group_tables(features)
    con = duckdb_tables(groups)
    tables = polars_tables(groups)
    runners: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
        "pandas_merge_asof": lambda spine: pandas_asof(spine, groups),
        "duckdb_asof_join": lambda spine: duckdb_asof(con, spine, groups),
        "polars_join_asof": lambda spine: polars_asof(spine, groups, tables),
    }
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    results: dict[str, float | int] = {"duckdb_threads": int(threads)}
    for label, spine in spines.items():
        reference = features.get_features(spine)
        for name, run in runners.items():
            seconds, cpu, bad = _timed_baseline(
                lambda run=run, spine=spine: run(spine), reference, repeat
            )
            results[f"{label}_{name}_s"] = seconds
            results[f"{label}_{name}_cpu_s"] = cpu
            results[f"{label}_{name}_rows_per_s"] = len(spine) / seconds
            results[f"{label}_{name}_mismatched_cells"] = bad
        del reference
    con.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baselines", choices=("all", "none"), default="all")
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
        spines = {
            "random": random_spine(symbols, args.rows, 0),
            "hourly_grid": grid_spine(symbols, args.rows),
        }
        for label, spine in spines.items():
            seconds, cpu, width, filled = _timed(fresh, spine, args.repeat)
            results[f"{label}_s"] = seconds
            results[f"{label}_rows_per_s"] = args.rows / seconds
            results[f"{label}_cpu_s"] = cpu
            results[f"{label}_rows_per_cpu_s"] = args.rows / cpu
            results[f"{label}_non_nan_share"] = filled
            results["output_columns"] = width
        results["output_mb"] = args.rows * int(results["output_columns"]) * 8 / 2**20
        results["peak_rss_mb"] = peak_rss_mb()
        if args.baselines == "all":
            results |= baselines(fresh, spines, args.repeat)
            results["peak_rss_after_baselines_mb"] = peak_rss_mb()
    results["load_avg_1m_after"] = os.getloadavg()[0]
    print(f"{'measure':<48}{'value':>16}")
    for key, value in results.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<48}{shown:>16}")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"bench_features-{stamp}.json"
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
