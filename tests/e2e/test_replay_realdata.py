"""A replay reproduces the backtest exactly, on the real data.

The drawdown model is trained (``downside train``, no tuning) on a store holding only
the rows whose event time is before 2024-06-30: its labelled rows are exactly those
whose label ended before 2024-07-01, the training rows of the backtest fold whose test
window starts on 2024-07-01 (the walk-forward purges every row whose label reaches the
test window; the expanding scheme trains on all rows before it). With the full data
ingested, ``evaluate --replay 2024-07-01 2024-07-30`` records what the registered model
says on each day, point in time, and ``run_backtest`` over the same days fits the fold
model on the same rows with the same parameters: the probabilities agree to the last
bits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside import api
from downside.config import load_settings
from downside.errors import LookAheadError
from downside.features import FeatureStore
from downside.models import load_spec
from downside.sources import read_files
from downside.store import Store
from downside.workflows import read_ledger, run_backtest

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

CUTOFF = pd.Timestamp("2024-07-01", tz="UTC")
LAST = pd.Timestamp("2024-07-30", tz="UTC")
KEYS = ["symbol", "asof", "threshold", "horizon_days"]


def test_replay_equals_the_backtest_fold(shared_data: Path, isolated_env: Path) -> None:
    settings = load_settings()
    tables = {raw.table: raw.frame for raw in read_files(shared_data)}
    store = Store.from_settings(settings)
    end = CUTOFF - pd.Timedelta(days=1)
    store.ingest(
        {n: f[pd.to_datetime(f["ts"], utc=True) < end] for n, f in tables.items()},
        origin="before the cut-off",
    )
    api.train("drawdown", trials=0, folds=1, settings=settings)
    store.ingest(tables, origin="all")

    with pytest.raises(LookAheadError, match="replay from 2024-06-30 or later"):
        api.evaluate(replay=("2024-06-01", "2024-06-10"), model="drawdown", log=False)
    run = api.evaluate(
        replay=(f"{CUTOFF:%Y-%m-%d}", f"{LAST:%Y-%m-%d}"),
        model="drawdown",
        n_boot=20,
        log=False,
        settings=settings,
    )
    assert run.replayed["downside-drawdown v1"] == (30 * 2 * 25, 0)
    ledger = read_ledger(store)
    replayed = ledger[(ledger["origin"] == "replay")]

    spec = load_spec("drawdown", settings.resolved_model_dir)
    result = run_backtest(
        spec, FeatureStore.from_settings(settings), start=CUTOFF, end=LAST, n_boot=10
    )
    assert pd.Timestamp(result.folds["test_start"].iloc[0]) == CUTOFF
    backtest = result.predictions
    merged = replayed.merge(backtest[[*KEYS, "p_model"]], on=KEYS, how="inner")
    assert len(merged) == len(backtest) == len(replayed)
    gap = np.abs(merged["probability"].to_numpy() - merged["p_model"].to_numpy())
    print(f"\nreplay vs backtest fold model: {len(merged)} forecasts, max |diff| {gap.max():.3g}")
    assert gap.max() <= 1e-12
