"""Ledger records: answers in, the same numbers out, one record per (as-of, model
version, cell), nothing changed by a rerun."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from downside.store import LEDGER_TABLE, Store
from downside.workflows import LedgerModel, cell_id, ledger_rows, read_ledger, record

FAMILIES = ("leverage", "funding", "technical")


def _model(target: str = "drawdown", version: str = "3") -> LedgerModel:
    predictor = SimpleNamespace(spec=SimpleNamespace(target=target), family_names=FAMILIES)
    return LedgerModel(predictor, f"downside-{target}", version)  # type: ignore[arg-type]


def _answer(target: str = "drawdown") -> pd.DataFrame:
    asof = pd.Timestamp("2024-03-01", tz="UTC").as_unit("us")
    cell = "threshold" if target == "drawdown" else "level"
    values = [0.05, 0.1] if target == "drawdown" else [60000.0, 55000.0]
    rows = pd.DataFrame(
        {
            "asof": pd.DatetimeIndex([asof] * 4),
            "symbol": ["BTC"] * 4,
            cell: [values[0], values[0], values[1], values[1]],
            "horizon_days": [1.0, 7.0, 1.0, 7.0],
            "probability": [0.2, 0.4, 0.05, 0.1],
            "baseline_probability": [0.18, 0.35, 0.04, 0.09],
            "p_reference": [0.19, 0.37, 0.045, 0.095],
            "leverage": [0.01, 0.02, 0.002, 0.004],
            "funding": [-0.005, 0.01, 0.001, 0.0],
            "technical": [0.005, 0.0, 0.002, 0.001],
            "leading_driver": ["leverage"] * 4,
            "ref_close": [62000.0] * 4,
            "stale_features": ["", "", "", "funding.funding_rate"],
        }
    )
    if target == "support":
        rows["level_type"] = "swing_low"
    return rows


def test_cell_names() -> None:
    assert cell_id("threshold", 0.1, 7) == "threshold=0.1,horizon_days=7.0"
    assert cell_id("level", 85000, 1.0) == "level=85000.0,horizon_days=1.0"


@pytest.mark.parametrize("target", ["drawdown", "support"])
def test_records_round_trip(tmp_path: Path, target: str) -> None:
    store = Store(tmp_path / "store")
    answer = _answer(target)
    rows = ledger_rows(answer, _model(target), data_version="abc", origin="forecast")
    assert json.loads(rows["contributions"].iloc[0]) == {
        "leverage": 0.01,
        "funding": -0.005,
        "technical": 0.005,
    }
    report = record(store, rows, origin="test")
    assert report.table(LEDGER_TABLE).inserted == 4
    ledger = read_ledger(store)
    assert len(ledger) == 4
    assert set(FAMILIES) <= set(ledger.columns)
    merged = ledger.sort_values(["horizon_days", "probability"]).reset_index(drop=True)
    expected = answer.sort_values(["horizon_days", "probability"]).reset_index(drop=True)
    for column in ("probability", "baseline_probability", "p_reference", *FAMILIES):
        np.testing.assert_array_equal(merged[column], expected[column])
    assert (ledger["model_version"] == "3").all()
    assert (ledger["target"] == target).all()
    assert ledger["issued_ts"].notna().all()
    other = "level" if target == "drawdown" else "threshold"
    assert ledger[other].isna().all()
    # a rerun records nothing, another version is another record
    assert record(store, rows, origin="again").table(LEDGER_TABLE).inserted == 0
    newer = ledger_rows(answer, _model(target, "4"), data_version="abc", origin="replay")
    assert record(store, newer, origin="v4").table(LEDGER_TABLE).inserted == 4
    assert len(read_ledger(store, models=[f"downside-{target}"])) == 8
    assert read_ledger(store, models=["other"]).empty


def test_an_empty_ledger_reads_as_no_rows(tmp_path: Path) -> None:
    ledger = read_ledger(Store(tmp_path / "store"))
    assert ledger.empty
    assert {"asof", "probability", "model_version"} <= set(ledger.columns)


def test_unknown_origin_is_refused() -> None:
    with pytest.raises(ValueError, match="origin must be one of"):
        ledger_rows(_answer(), _model(), data_version="x", origin="guess")
