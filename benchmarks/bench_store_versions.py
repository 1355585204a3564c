"""The versioned store against a Delta Lake prototype, on the real data.

    .venv/bin/python benchmarks/bench_store_versions.py [--data ../shared/data] [--repeat 3]
    PYTHONPATH=/tmp/dlpkg .venv/bin/python benchmarks/bench_store_versions.py  # with Delta

deltalake is not a dependency of downside; the Delta column runs when ``import
deltalake`` works (``pip install --target /tmp/dlpkg deltalake``). Both backends get the
same rows (validated and normalised by downside) and do the same things:

1. ingest every table of the data folder (one version);
2. read every table in a fresh handle (cold read);
3. ingest 20 pages of 24 new hourly bars each (20 versions, as ``downside update`` does);
4. cold read again, and measure the disk used by all kept versions;
5. re-ingest the data folder (nothing changes);
6. roll back to version 1, verify the files of the current version (SHA-256), delete
   7 days of one symbol, vacuum to the newest version.

The Delta prototype keeps one Delta table per raw table and, for atomic multi-table
versions, a JSON manifest of their Delta versions (Delta commits are per table); new
rows are appended (the benchmark changes no stored row), with downside's validation and
plausibility checks run as the store runs them; Delta records no file digests, so verify
hashes the files its log lists. Times are the median of ``--repeat`` runs, in wall-clock and
CPU seconds; results go to stdout as JSON lines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from downside.sources import TABLES, read_files
from downside.store import PublicationRules, Store
from downside.store._plausible import price_problems
from downside.store._validate import normalize, validate

PAGES = 20


def _disk(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _pages(hourly: pd.DataFrame) -> list[pd.DataFrame]:
    btc = hourly.loc[(hourly["symbol"] == "BTC") & (hourly["venue"] == "binance_spot")]
    last = btc.loc[btc["ts"].idxmax()]
    pages = []
    for k in range(PAGES):
        ts = pd.date_range(
            last["ts"] + pd.Timedelta(hours=1 + 24 * k), periods=24, freq="h", unit="us"
        )
        pages.append(
            pd.DataFrame(
                {
                    "ts": ts,
                    "symbol": "BTC",
                    "pair": "BTCUSDT",
                    "venue": "binance_spot",
                    "open": last["close"],
                    "high": last["close"] * 1.001,
                    "low": last["close"] * 0.999,
                    "close": last["close"],
                    "volume_base": 1.0,
                    "volume_quote": float("nan"),
                }
            )
        )
    return pages


class HandMade:
    """downside's store: a manifest per version, Parquet parts with SHA-256."""

    name = "manifest"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = Store(root)

    def ingest(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self.store.ingest(tables, origin="bench")

    def read_all(self) -> int:
        fresh = Store(self.root)
        return sum(len(fresh.read(t)) for t in fresh.tables())

    def rollback(self) -> None:
        self.store.rollback(1)

    def verify(self) -> None:
        assert self.store.verify(all_versions=False).ok

    def delete(self) -> None:
        self.store.delete(
            "ohlcv_daily",
            symbol="BTC",
            start=pd.Timestamp("2024-06-01", tz="UTC"),
            end=pd.Timestamp("2024-06-08", tz="UTC"),
            reason="bench",
        )

    def vacuum(self) -> None:
        self.store.vacuum(keep=1)


class DeltaPrototype:
    """One Delta table per raw table, plus a JSON manifest of their versions."""

    name = "delta"

    def __init__(self, root: Path) -> None:
        import deltalake

        self.dl = deltalake
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.rules = PublicationRules.default()

    def _prepared(self, table: str, frame: pd.DataFrame) -> pd.DataFrame:
        stored = normalize(table, frame)
        stored.insert(1, "available_ts", self.rules.available_ts(table, stored))
        return stored

    def _read(self, table: str) -> pd.DataFrame:
        frame = self.dl.DeltaTable(self.root / table).to_pandas()
        keys = list(TABLES[table].keys)
        return frame.sort_values([*keys, "event_ts"], kind="stable", ignore_index=True)

    def ingest(self, tables: Mapping[str, pd.DataFrame]) -> None:
        import pyarrow as pa

        versions = {}
        for table, raw in tables.items():
            assert not validate(table, raw, "bench").problems  # the same checks as the store
            new = self._prepared(table, raw)
            path = self.root / table
            if not path.exists():
                assert not price_problems(table, new, np.ones(len(new), dtype=bool), "bench")
                self.dl.write_deltalake(path, pa.Table.from_pandas(new, preserve_index=False))
            else:
                keys = ["event_ts", *TABLES[table].keys]
                old = self._read(table)
                both = new.merge(old, on=keys, how="left", suffixes=("", "__old"), indicator=True)
                is_new = (both["_merge"] == "left_only").to_numpy()
                fresh = new.loc[is_new]
                if fresh.empty:
                    continue
                merged = pd.concat([old, fresh], ignore_index=True)
                touched = np.r_[np.zeros(len(old), dtype=bool), np.ones(len(fresh), dtype=bool)]
                order = merged.sort_values(list(TABLES[table].keys), kind="stable").index
                merged, touched = merged.loc[order].reset_index(drop=True), touched[order]
                assert not price_problems(table, merged, touched, "bench")
                self.dl.write_deltalake(
                    path, pa.Table.from_pandas(fresh, preserve_index=False), mode="append"
                )
            versions[table] = self.dl.DeltaTable(path).version()
        manifest = self.root / "manifest.json"
        current = json.loads(manifest.read_text()) if manifest.exists() else {}
        current.update(versions)
        tmp = self.root / "manifest.json.tmp"
        tmp.write_text(json.dumps(current))
        os.replace(tmp, manifest)

    def read_all(self) -> int:
        return sum(len(self._read(t)) for t in TABLES if (self.root / t).exists())

    def rollback(self) -> None:
        for table in TABLES:
            if (self.root / table).exists():
                delta = self.dl.DeltaTable(self.root / table)
                if delta.version() > 0:
                    delta.restore(0)

    def verify(self) -> None:
        for table in TABLES:
            if (self.root / table).exists():
                for uri in self.dl.DeltaTable(self.root / table).file_uris():
                    hashlib.sha256(Path(uri.removeprefix("file://")).read_bytes()).hexdigest()

    def delete(self) -> None:
        self.dl.DeltaTable(self.root / "ohlcv_daily").delete(
            "symbol = 'BTC' AND event_ts >= '2024-06-01T00:00:00Z' "
            "AND event_ts < '2024-06-08T00:00:00Z'"
        )

    def vacuum(self) -> None:
        for table in TABLES:
            if (self.root / table).exists():
                self.dl.DeltaTable(self.root / table).vacuum(
                    retention_hours=0, dry_run=False, enforce_retention_duration=False
                )


def run(backend: type[Any], tables: Mapping[str, pd.DataFrame], folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    store = backend(folder / backend.name)
    out["ingest_s"], out["ingest_cpu_s"], _ = _timed(lambda: store.ingest(tables))
    out["disk_mb"] = _disk(store.root) / 1e6
    out["cold_read_s"], out["cold_read_cpu_s"], _ = _timed(store.read_all)
    page_times = []
    for page in _pages(tables["ohlcv_hourly"]):
        wall, _cpu, _ = _timed(lambda page=page: store.ingest({"ohlcv_hourly": page}))
        page_times.append(wall)
    out["page_ingest_median_s"] = statistics.median(page_times)
    out["disk_after_pages_mb"] = _disk(store.root) / 1e6
    out["cold_read_after_pages_s"], _, _ = _timed(store.read_all)
    out["noop_reingest_s"], _, _ = _timed(lambda: store.ingest(tables))
    out["rollback_s"], _, _ = _timed(store.rollback)
    out["verify_s"], _, _ = _timed(store.verify)
    out["delete_s"], _, _ = _timed(store.delete)
    out["vacuum_s"], _, _ = _timed(store.vacuum)
    out["disk_after_vacuum_mb"] = _disk(store.root) / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tables = {raw.table: raw.frame for raw in read_files(args.data)}
    backends: list[type[Any]] = [HandMade]
    try:
        import deltalake  # noqa: F401

        backends.append(DeltaPrototype)
    except ImportError:
        print(json.dumps({"note": "deltalake is not importable: the Delta column is skipped"}))
    results: dict[str, list[dict[str, Any]]] = {b.name: [] for b in backends}
    for _ in range(args.repeat):
        for backend in backends:  # alternate, so both see the same machine load
            with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
                results[backend.name].append(run(backend, tables, Path(folder)))
    for name, runs in results.items():
        median = {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
        print(json.dumps({"backend": name, "runs": len(runs), **median}))


if __name__ == "__main__":
    main()
