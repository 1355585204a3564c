"""Side by side: Feast 0.67 ``get_historical_features`` and downside ``get_features``.

    .venv/bin/python benchmarks/bench_feast.py [--data DIR] [--feast-rows 10000,50000]
        [--rows 1000000] [--repeat 5] [--modes event,event+created_filter]
        [--offline-store duckdb|file] [--feast-python PATH] [--workdir DIR]

Feast is not a dependency of downside: it runs in its own interpreter, ``$FEAST_PYTHON``
or ``/tmp/feast-venv/bin/python`` (created with ``python3 -m venv`` and
``pip install "feast[duckdb]==0.67.0"`` when missing), as a subprocess of this script
(``--feast-worker``), so both sides run in the same invocation on the same files.

The same join on both sides:

- tables: the feature group tables that downside's ``FeatureStore.build()`` writes to
  its cache (one row per entity and event time with ``event_ts``, ``available_ts`` and
  the feature values), one Feast ``FeatureView`` per group over a ``FileSource`` of that
  Parquet file, joined by ``symbol`` (groups with one market-wide entity, such as
  rates, by a constant ``market`` key), with the group's TTL;
- spine: the first N rows of one random spine (symbols and microsecond as-of times in
  random order, 2016 to mid-2025, as in ``bench_features.py``), every feature.

Feast runs with each setting of ``--modes`` (its own registry, the same tables):

- ``event``: ``timestamp_field="event_ts"``, ``created_timestamp_column="available_ts"``:
  Feast's documented point-in-time join, on the event time (the created timestamp only
  breaks ties);
- ``event+created_filter``: the same views with ``get_historical_features(...,
  filter_by_created_timestamp=True)``, opt-in in Feast 0.67: rows published after the
  as-of time are excluded, which is downside's join;
- ``available`` (not run by default): ``timestamp_field="available_ts"``, ties broken by
  ``event_ts``; the TTL then runs from publication.

Each Feast result is checked against a pandas ``merge_asof`` of that setting's semantics
("oracle off": cells where Feast differs from it, expected 0), then compared with
downside cell by cell. Differences are attributed to look-ahead (Feast's value comes from
a row published after the as-of time, ``available_ts > asof``), to the TTL anchor
(Feast's TTL runs from the row's timestamp field, downside's from the event time of the
value served, which is earlier when a missing value was carried forward), or to
neither ("other", expected 0).

Timings are medians of ``--repeat`` runs after one untimed warm-up per side; Feast's
time is ``get_historical_features(...)`` plus ``.to_df()`` (DuckDB may use every core;
downside's retrieval is single-threaded numpy). Nothing is extrapolated: each rows/s is
measured at the spine size shown; downside is also timed on ``--rows`` rows. Prints
tables and writes JSON (with the load average before and after) to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from downside.features import FeatureStore

FEAST_REQUIREMENT = "feast[duckdb]==0.67.0"
FEAST_VERSION_PREFIX = "0.67."
DEFAULT_FEAST_VENV = Path("/tmp/feast-venv")
MODES: dict[str, dict[str, Any]] = {
    # Feast's point-in-time join as documented: on the event time; the publication time
    # is the created timestamp, which only breaks ties
    "event": {"timestamp_field": "event_ts", "created": "available_ts", "filter": False},
    # the same views with Feast 0.67's opt-in filter_by_created_timestamp=True: rows
    # published after the entity's timestamp are excluded (the join downside does)
    "event+created_filter": {
        "timestamp_field": "event_ts",
        "created": "available_ts",
        "filter": True,
    },
    # the publication time as Feast's timestamp (ties broken by the event time); the
    # TTL then runs from publication instead of the event
    "available": {"timestamp_field": "available_ts", "created": "event_ts", "filter": False},
}
DEFAULT_MODES = "event,event+created_filter"
MARKET_KEY = "market"
MARKET_VALUE = "*"  # downside's entity of market-wide groups
ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _feast_name(name: str) -> str:
    """Feature names are ``family.name``; Feast references are ``view:feature``."""
    return name.replace(".", "__")


# --------------------------------------------------------------------------- Feast side
# Runs in the Feast interpreter: standard library, numpy, pandas and feast only.


def feast_worker(job_file: Path) -> None:
    """Register the views, time ``get_historical_features`` per mode and spine, save results."""
    import feast
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.repo_config import RepoConfig
    from feast.types import Float64

    # Feast resets the warning filters on import; its deprecation notices and "Using asof
    # as the event timestamp" are noise here
    warnings.simplefilter("ignore")
    if not feast.__version__.startswith(FEAST_VERSION_PREFIX):
        raise SystemExit(f"expected Feast {FEAST_VERSION_PREFIX}x, found {feast.__version__}")
    job = json.loads(job_file.read_text(encoding="utf-8"))
    work = Path(job["workdir"])
    refs = [f"{g['id']}:{f}" for g in job["groups"] for f in g["features"]]
    runs = []
    for number, mode in enumerate(job["modes"]):
        setting = MODES[mode]
        repo = work / f"feast-repo-{number}"
        repo.mkdir()
        config = RepoConfig(
            project="downside_bench",
            registry=str(repo / "registry.db"),
            provider="local",
            offline_store={"type": job["offline_store"]},
            online_store={"type": "sqlite", "path": str(repo / "online.db")},
            entity_key_serialization_version=3,
            repo_path=str(repo),
        )
        store = FeatureStore(config=config)
        entities = {
            key: Entity(name=key, join_keys=[key], value_type=ValueType.STRING)
            for key in ("symbol", MARKET_KEY)
        }
        views = [
            FeatureView(
                name=g["id"],
                entities=[entities[g["key"]]],
                ttl=timedelta(microseconds=g["ttl_us"]),
                schema=[Field(name=f, dtype=Float64) for f in g["features"]],
                source=FileSource(
                    name=f"{g['id']}_source",
                    path=g["path"],
                    timestamp_field=setting["timestamp_field"],
                    created_timestamp_column=setting["created"],
                ),
                online=False,
            )
            for g in job["groups"]
        ]
        store.apply([*entities.values(), *views])
        options: dict[str, Any] = {"features": refs}
        if setting["filter"]:  # passed only when set: older Feast versions lack it
            options["filter_by_created_timestamp"] = True
        warm = _entity_df(job["spines"][0]["path"]).iloc[: job["warmup_rows"]]
        store.get_historical_features(entity_df=warm, **options).to_df()
        for spine_job in job["spines"]:
            spine = _entity_df(spine_job["path"])
            plan, total, cpu = [], [], []
            frame = None
            for _ in range(job["repeat"]):
                del frame
                start, start_cpu = time.perf_counter(), time.process_time()
                retrieval = store.get_historical_features(entity_df=spine, **options)
                planned = time.perf_counter()
                frame = retrieval.to_df()
                total.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
                plan.append(planned - start)
            assert frame is not None
            out = work / f"feast-{number}-{len(spine)}.parquet"
            frame.sort_values("row").reset_index(drop=True).to_parquet(out, index=False)
            runs.append(
                {
                    "mode": mode,
                    "rows": len(spine),
                    "seconds": statistics.median(total),
                    "runs_s": total,
                    "cpu_s": statistics.median(cpu),
                    "plan_s": statistics.median(plan),
                    "rows_out": len(frame),
                    "result": str(out),
                }
            )
            print(
                f"feast {mode:<22}{len(spine):>10,} rows {statistics.median(total):8.2f} s",
                file=sys.stderr,
                flush=True,
            )
    versions = {"feast": feast.__version__, "python": platform.python_version()}
    for module in ("duckdb", "ibis", "pandas", "pyarrow", "dask"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "absent"
    result = {"versions": versions, "runs": runs, "peak_rss_mb": _peak_rss_mb()}
    Path(job["result"]).write_text(json.dumps(result, indent=2), encoding="utf-8")


def _entity_df(path: str) -> pd.DataFrame:
    """The spine as Feast's entity frame: ``event_timestamp`` is Feast's name for ``asof``."""
    return pd.read_parquet(path).rename(columns={"asof": "event_timestamp"})


# --------------------------------------------------------------------------- set-up


def feast_python(explicit: str | None) -> Path:
    """The Feast interpreter: ``--feast-python``, ``$FEAST_PYTHON`` or the default venv,
    created with Feast 0.67 when it does not exist yet."""
    chosen = explicit or os.environ.get("FEAST_PYTHON")
    if chosen:
        return Path(chosen)
    python = DEFAULT_FEAST_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {DEFAULT_FEAST_VENV} with {FEAST_REQUIREMENT} ...", file=sys.stderr)
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(DEFAULT_FEAST_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", FEAST_REQUIREMENT], check=True
        )
    return python


# --------------------------------------------------------------------------- downside side


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--feast-rows",
        default="10000,50000",
        help="comma-separated spine sizes for both sides (default 10000,50000)",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="downside-only spine size")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--offline-store", default="duckdb", choices=["duckdb", "file"])
    parser.add_argument(
        "--modes", default=DEFAULT_MODES, help=f"Feast settings among {', '.join(MODES)}"
    )
    parser.add_argument("--feast-python", default=None)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the store, tables and results here"
    )
    parser.add_argument("--feast-worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.feast_worker is not None:
        feast_worker(args.feast_worker)
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    """Export the tables, run the Feast worker, time downside, compare, report."""
    from bench_features import feature_store, random_spine  # beside this script
    from downside.store import Store

    sizes = sorted({int(n) for n in args.feast_rows.split(",")})
    modes = [m.strip() for m in args.modes.split(",")]
    problems = []
    if not set(modes) <= set(MODES):
        problems.append(f"--modes must be among {', '.join(MODES)}, received {args.modes}")
    if max(sizes) > args.rows:
        problems.append(f"--feast-rows must be at most --rows ({args.rows})")
    if problems:
        raise SystemExit("; ".join(problems))
    python = feast_python(args.feast_python)
    results: dict[str, Any] = {
        "data": str(args.data),
        "offline_store": args.offline_store,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_avg_1m_before": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="bench-feast-") as tmp:
        work = Path(tmp)
        if args.workdir is not None:
            work = args.workdir
            work.mkdir(parents=True)  # an existing folder would mix two runs
        store = Store(work / "store")
        store.ingest_files(args.data)
        start = time.perf_counter()
        feature_store(store).build()
        results["build_s"] = time.perf_counter() - start
        features = feature_store(store)
        groups, tables = export_groups(features, work / "tables")
        symbols = features.symbols()
        spine = random_spine(symbols, args.rows, 0)
        if spine.duplicated(["symbol", "asof"]).any():
            raise SystemExit("the random spine repeats a (symbol, asof) pair; change the seed")
        spine.insert(0, "row", range(len(spine)))
        spine[MARKET_KEY] = MARKET_VALUE
        spines = []
        for n in sizes:
            path = work / f"spine-{n}.parquet"
            spine.iloc[:n].to_parquet(path, index=False)
            spines.append({"path": str(path), "rows": n})
        job = {
            "workdir": str(work),
            "groups": groups,
            "spines": spines,
            "modes": modes,
            "repeat": args.repeat,
            "warmup_rows": min(1_000, sizes[0]),
            "offline_store": args.offline_store,
            "result": str(work / "feast-result.json"),
        }
        job_file = work / "job.json"
        job_file.write_text(json.dumps(job, indent=2), encoding="utf-8")
        results["features"] = len(features.definitions)
        results["feature_views"] = len(groups)
        results["symbols"] = len(symbols)
        results["table_rows"] = sum(len(t) for t in tables.values())
        print(
            f"{len(groups)} feature groups ({results['table_rows']:,} rows, "
            f"{len(features.definitions)} features), {len(symbols)} symbols; Feast: {python}",
            file=sys.stderr,
            flush=True,
        )
        worker = [str(python), __file__, "--feast-worker", str(job_file)]
        subprocess.run(worker, check=True)
        feast = json.loads(Path(job["result"]).read_text(encoding="utf-8"))
        results["feast_versions"] = feast["versions"]
        results["feast_peak_rss_mb"] = feast["peak_rss_mb"]
        results["load_avg_1m_after_feast"] = os.getloadavg()[0]

        fresh = feature_store(store)
        fresh.get_features(spine.iloc[: min(1_000, sizes[0])])  # warm-up: cache load
        ours: dict[int, pd.DataFrame] = {}
        runs = []
        for n in sorted({*sizes, args.rows}):
            part = spine.iloc[:n]
            seconds, out = _time_ours(fresh, part, args.repeat)
            runs.append({"side": "downside", "mode": "available_ts", "rows": n, **seconds})
            print(f"downside {n:>10,} rows {seconds['seconds']:8.3f} s", file=sys.stderr)
            if n in sizes:
                ours[n] = out
            del out
        results["downside_peak_rss_mb"] = _peak_rss_mb()
        for run_ in feast["runs"]:
            n = run_["rows"]
            check = compare(
                run_["mode"],
                pd.read_parquet(run_["result"]),
                ours[n],
                spine.iloc[:n],
                fresh,
                groups,
                tables,
            )
            runs.append(
                {
                    "side": "feast",
                    **{k: v for k, v in run_.items() if k != "result"},
                    "check": check,
                }
            )
        results["load_avg_1m_after"] = os.getloadavg()[0]
    for entry in runs:
        entry["rows_per_s"] = entry["rows"] / entry["seconds"]
        entry["rows_per_cpu_s"] = entry["rows"] / entry["cpu_s"]
    downside_runs = {e["rows"]: e for e in runs if e["side"] == "downside"}
    for entry in runs:
        if entry["side"] == "feast":
            mine = downside_runs[entry["rows"]]
            entry["downside_over_feast"] = mine["rows_per_s"] / entry["rows_per_s"]
            entry["downside_over_feast_cpu"] = mine["rows_per_cpu_s"] / entry["rows_per_cpu_s"]
    results["runs"] = runs
    report(results)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out_dir / f"bench_feast-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"wrote {path}")


def export_groups(
    features: FeatureStore, folder: Path
) -> tuple[list[dict[str, Any]], dict[str, pd.DataFrame]]:
    """Write each cached feature group as a Feast-ready Parquet table.

    Columns: the join key (``symbol``, or ``market`` for market-wide groups),
    ``event_ts``, ``available_ts`` and the features (renamed for Feast); the ``@ts``
    value-time columns are left out (Feast has one TTL per view, from its timestamp).
    """
    folder.mkdir()
    cache = features.cache_dir / features.cache_key()
    meta = json.loads((cache / "manifest.json").read_text(encoding="utf-8"))
    ttl = {d.name: d.ttl_value for d in features.definitions}
    groups, tables = [], {}
    for group_id in meta["groups"]:
        frame = pd.read_parquet(cache / f"{group_id}.parquet")
        names = [
            c
            for c in frame.columns
            if c not in ("entity", "event_ts", "available_ts") and "@" not in c
        ]
        ttls = {ttl[n] for n in names}
        if len(ttls) != 1:
            raise SystemExit(f"group {group_id} mixes TTLs {ttls}: Feast has one per view")
        market_wide = bool((frame["entity"] == MARKET_VALUE).all())
        key = MARKET_KEY if market_wide else "symbol"
        table = frame[["entity", "event_ts", "available_ts", *names]].rename(
            columns={"entity": key, **{n: _feast_name(n) for n in names}}
        )
        path = folder / f"{group_id}.parquet"
        table.to_parquet(path, index=False)
        tables[group_id] = table
        groups.append(
            {
                "id": group_id,
                "key": key,
                "path": str(path),
                "names": names,
                "features": [_feast_name(n) for n in names],
                "ttl_us": ttls.pop().value // 1000,
                "rows": len(table),
            }
        )
    return groups, tables


def _time_ours(
    features: FeatureStore, spine: pd.DataFrame, repeat: int
) -> tuple[dict[str, Any], pd.DataFrame]:
    times, cpu = [], []
    out = pd.DataFrame()
    for _ in range(repeat):
        del out
        start, start_cpu = time.perf_counter(), time.process_time()
        out = features.get_features(spine)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    summary = {"seconds": statistics.median(times), "runs_s": times}
    return {**summary, "cpu_s": statistics.median(cpu)}, out


# --------------------------------------------------------------------------- comparison


def compare(
    mode: str,
    feast: pd.DataFrame,
    ours: pd.DataFrame,
    spine: pd.DataFrame,
    features: FeatureStore,
    groups: list[dict[str, Any]],
    tables: dict[str, pd.DataFrame],
) -> dict[str, Any]:
    """Cell-by-cell comparison of one Feast result with downside on the same spine.

    Returns counts: cells where Feast differs from a pandas ``merge_asof`` oracle of its
    own semantics (expected 0), spine rows where Feast and downside differ, and those
    differences attributed to look-ahead (Feast's row published after ``asof``), to the
    TTL anchor, or to neither. Spine rows missing from Feast's result (seen with the
    ``file`` offline store) are counted and left out of the comparison.
    """
    returned = spine["row"].isin(feast["row"]).to_numpy()
    if feast["row"].duplicated().any() or not feast["row"].isin(spine["row"]).all():
        raise SystemExit(f"Feast ({mode}) returned rows that are not the spine's, or repeats")
    spine, ours = spine.loc[returned], ours.loc[returned]
    names = [n for g in groups for n in g["names"]]
    theirs = feast[[_feast_name(n) for n in names]].to_numpy(dtype="float64")
    mine = ours[names].to_numpy(dtype="float64")
    both_nan = np.isnan(theirs) & np.isnan(mine)
    differ = ~((theirs == mine) | both_nan)
    stale = features.stale(spine, names).iloc[:, 2:].to_numpy(dtype=bool)

    oracle = np.empty_like(theirs)
    unpublished = np.zeros_like(differ)
    column = 0
    for group in groups:
        width = len(group["names"])
        rows, published_after = _feast_oracle(mode, spine, tables[group["id"]], group)
        values = tables[group["id"]][group["features"]].to_numpy(dtype="float64")
        found = rows >= 0
        block = np.full((len(spine), width), np.nan)
        block[found] = values[rows[found]]
        oracle[:, column : column + width] = block
        unpublished[:, column : column + width] = published_after[:, None]
        column += width
    oracle_off = ~((oracle == theirs) | (np.isnan(oracle) & np.isnan(theirs)))
    leak = differ & unpublished
    # downside has a value older than its TTL (NaN), Feast's TTL from a later time keeps it
    ttl_anchor = differ & ~leak & np.isnan(mine) & ~np.isnan(theirs) & stale
    returned_unpublished = unpublished & ~np.isnan(theirs)
    has_value = ~np.isnan(theirs) | ~np.isnan(mine)
    other = differ & ~leak & ~ttl_anchor
    families = sorted({n.split(".")[0] for n in names})
    family_of = np.array([n.split(".")[0] for n in names])
    check: dict[str, Any] = {
        "rows_missing_from_feast": int((~returned).sum()),
        "cells": int(differ.size),
        "cells_feast_vs_oracle_mismatch": int(oracle_off.sum()),
        "cells_differ": int(differ.sum()),
        "cells_differ_lookahead": int(leak.sum()),
        "cells_differ_ttl_anchor": int(ttl_anchor.sum()),
        "cells_differ_other": int(other.sum()),
        "rows_compared": len(spine),
        "rows_differ": int(differ.any(axis=1).sum()),
        "rows_feast_returns_unpublished_value": int(returned_unpublished.any(axis=1).sum()),
        "rows_differ_lookahead": int(leak.any(axis=1).sum()),
        "rows_differ_ttl_anchor_only": int(
            (ttl_anchor.any(axis=1) & ~leak.any(axis=1) & ~other.any(axis=1)).sum()
        ),
        "rows_differ_other": int(other.any(axis=1).sum()),
        "rows_differ_lookahead_by_family": {
            f: int(leak[:, family_of == f].any(axis=1).sum()) for f in families
        },
        "rows_with_values_by_family": {
            f: int(has_value[:, family_of == f].any(axis=1).sum()) for f in families
        },
    }
    flows = "etf_flows.etf_flow_total"
    if flows in names:
        k = names.index(flows)
        hit = np.flatnonzero(leak[:, k])
        if hit.size:
            i = int(hit[0])
            check["example"] = _example(spine, tables, groups, flows, i, theirs[i, k], mine[i, k])
    return check


def _feast_oracle(
    mode: str, spine: pd.DataFrame, table: pd.DataFrame, group: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Per spine row: the table row Feast's point-in-time join should pick (-1 for none)
    and whether that row was published after the as-of time.

    Feast keeps the newest row by its timestamp field with ``timestamp <= asof`` and
    ``timestamp + ttl >= asof`` (with the filter also ``created <= asof``), ties broken by
    the newest created timestamp. In the group tables both ``event_ts`` and
    ``available_ts >= event_ts`` grow with the row order of an entity, so without the
    filter this is a backward ``merge_asof`` on the timestamp field within the TTL (the
    last of tied rows wins); with it, the rows kept are those with ``available_ts <=
    asof``, the newest of them is the last by ``available_ts``, and it is dropped when
    its ``event_ts`` is older than the TTL.
    """
    setting = MODES[mode]
    key, ttl = group["key"], pd.Timedelta(microseconds=group["ttl_us"])
    on = "available_ts" if setting["filter"] else setting["timestamp_field"]
    right = table[[key, "event_ts", "available_ts"]].assign(
        _ts=table[on], _row=np.arange(len(table))
    )
    merged = pd.merge_asof(
        spine[["row", key, "asof"]].sort_values("asof", kind="stable"),
        right.sort_values(["_ts", "_row"], kind="stable"),
        left_on="asof",
        right_on="_ts",
        by=key,
        direction="backward",
        tolerance=None if setting["filter"] else ttl,
    ).sort_values("row")
    rows = merged["_row"].fillna(-1).to_numpy(dtype="int64", copy=True)
    if setting["filter"]:
        expired = (merged["event_ts"] + ttl < merged["asof"]).fillna(False).to_numpy(dtype=bool)
        rows[expired] = -1
    after = (merged["available_ts"] > merged["asof"]).fillna(False).to_numpy(dtype=bool)
    return rows, after & (rows >= 0)


def _example(
    spine: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    groups: list[dict[str, Any]],
    name: str,
    i: int,
    feast_value: float,
    our_value: float,
) -> dict[str, str]:
    group = next(g for g in groups if name in g["names"])
    table = tables[group["id"]]
    row = spine.iloc[i]
    known = table.loc[
        (table[group["key"]] == row[group["key"]]) & (table["event_ts"] <= row["asof"])
    ].iloc[-1]
    return {
        "feature": name,
        "symbol": str(row["symbol"]),
        "asof": str(row["asof"]),
        "feast_value": repr(float(feast_value)),
        "feast_value_event_ts": str(known["event_ts"]),
        "feast_value_available_ts": str(known["available_ts"]),
        "downside_value": repr(float(our_value)),
    }


# --------------------------------------------------------------------------- report


def report(results: dict[str, Any]) -> None:
    """Print the timings and the comparison."""
    versions = results["feast_versions"]
    print(
        f"\n{results['features']} features in {results['feature_views']} feature views "
        f"({results['table_rows']:,} rows), {results['symbols']} symbols, random spine; "
        f"Feast {versions['feast']} ({results['offline_store']} offline store, duckdb "
        f"{versions['duckdb']}, ibis {versions['ibis']}); median of {results['repeat']} "
        f"runs; load average {results['load_avg_1m_before']:.1f} -> "
        f"{results['load_avg_1m_after']:.1f} on {results['cpus']} CPUs"
    )
    print(
        f"{'spine rows':>12}  {'side':<9}{'join':<24}{'seconds':>9}{'rows/s':>11}"
        f"{'ratio':>7}{'CPU s':>9}{'rows/CPU s':>12}{'ratio':>7}"
    )
    order = sorted(results["runs"], key=lambda e: (e["rows"], e["side"] != "feast"))
    for e in order:
        wall = f"{e['downside_over_feast']:,.0f}x" if "downside_over_feast" in e else ""
        cpu = f"{e['downside_over_feast_cpu']:,.0f}x" if "downside_over_feast" in e else ""
        join = e["mode"] if e["side"] == "feast" else "as-of on available_ts"
        print(
            f"{e['rows']:>12,}  {e['side']:<9}{join:<24}{e['seconds']:>9.3f}"
            f"{e['rows_per_s']:>11,.0f}{wall:>7}{e['cpu_s']:>9.3f}{e['rows_per_cpu_s']:>12,.0f}"
            f"{cpu:>7}"
        )
    print("(ratio: downside rows/s over Feast rows/s on the same spine)")
    print(
        "\nSpine rows: missing from Feast's result; where Feast returns a value published"
        "\nafter the as-of time; where Feast and downside differ, and why. Oracle off:"
        "\ncells where Feast differs from a pandas merge_asof of its own semantics (0 expected)"
    )
    print(
        f"{'spine rows':>12}  {'Feast setting':<24}{'missing':>8}{'unpublished':>12}"
        f"{'differ':>9}{'look-ahead':>12}{'TTL anchor':>12}{'other':>7}{'oracle off':>12}"
    )
    feast_runs = [e for e in order if e["side"] == "feast"]
    for e in feast_runs:
        c = e["check"]
        print(
            f"{e['rows']:>12,}  {e['mode']:<24}{c['rows_missing_from_feast']:>8,}"
            f"{c['rows_feast_returns_unpublished_value']:>12,}"
            f"{c['rows_differ']:>9,}{c['rows_differ_lookahead']:>12,}"
            f"{c['rows_differ_ttl_anchor_only']:>12,}{c['rows_differ_other']:>7,}"
            f"{c['cells_feast_vs_oracle_mismatch']:>12,}"
        )
    largest = [e for e in feast_runs if e["rows"] == max(r["rows"] for r in feast_runs)]
    for e in largest:
        c = e["check"]
        if not c["rows_differ_lookahead"]:
            continue
        with_values = c["rows_with_values_by_family"]
        by_family = ", ".join(
            f"{f} {v:,} of {with_values[f]:,}"
            for f, v in c["rows_differ_lookahead_by_family"].items()
        )
        print(
            f"\nlook-ahead rows by family, of the rows with a value of that family "
            f"({e['mode']}, {e['rows']:,} rows): {by_family}"
        )
        if "example" in c:
            x = c["example"]
            print(
                f"e.g. {x['symbol']} {x['feature']} as of {x['asof']}: Feast "
                f"{x['feast_value']} (event {x['feast_value_event_ts']}, published "
                f"{x['feast_value_available_ts']}), downside {x['downside_value']}"
            )


if __name__ == "__main__":
    main()
