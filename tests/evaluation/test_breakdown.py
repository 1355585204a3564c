"""Grouped metrics, the monotonicity counter and the report writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.errors import InvalidNameError, ModelInputError
from downside.evaluation import (
    BREAKDOWN_METRICS,
    breakdown,
    brier_score,
    grid_frame,
    monotonicity_violations,
    reliability_table,
    write_backtest_report,
)


@pytest.fixture
def scored() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 3_000
    frame = pd.DataFrame(
        {
            "symbol": rng.choice(["BTC", "ETH"], n),
            "threshold": rng.choice([0.05, 0.10], n),
            "horizon_days": rng.choice([7, 30], n),
            "sigma_daily": rng.lognormal(np.log(0.03), 0.3, n),
            "p_model": rng.uniform(0.01, 0.6, n),
        }
    )
    frame["label"] = (rng.random(n) < frame["p_model"]).astype(float)
    frame["p_ref"] = frame["label"].mean()
    return frame


def test_breakdown_per_group_matches_direct_scores(scored: pd.DataFrame) -> None:
    out = breakdown(scored, ["p_model", "p_ref"], ["threshold", "horizon_days"], ref_col="p_ref")
    assert list(out.columns) == ["threshold", "horizon_days", "model", *BREAKDOWN_METRICS]
    assert len(out) == 2 * 2 * 2
    assert out.groupby("model")["n"].sum().tolist() == [len(scored)] * 2
    group = scored[(scored["threshold"] == 0.05) & (scored["horizon_days"] == 30)]
    row = out[(out["threshold"] == 0.05) & (out["horizon_days"] == 30)].set_index("model")
    assert row.loc["p_model", "brier"] == pytest.approx(
        brier_score(group["p_model"], group["label"])
    )
    assert row.loc["p_ref", "brier_skill"] == pytest.approx(0.0)
    assert row.loc["p_model", "brier_skill"] > 0


def test_breakdown_derives_volatility_terciles_and_overall(scored: pd.DataFrame) -> None:
    out = breakdown(scored, ["p_model"], ["vol_regime"])
    assert out["vol_regime"].tolist() == ["low", "mid", "high"]
    assert out["n"].tolist() == [1000, 1000, 1000]
    overall = breakdown(scored, ["p_model"], [])
    assert overall["n"].tolist() == [3000]
    assert np.isnan(overall["brier_skill"]).all()


def test_breakdown_lists_missing_columns(scored: pd.DataFrame) -> None:
    with pytest.raises(ModelInputError, match=r"missing_columns.*p_other.*venue"):
        breakdown(scored.drop(columns="sigma_daily"), ["p_other"], ["venue", "vol_regime"])


def test_grid_frame_recomputes_z_distance() -> None:
    base = pd.DataFrame({"sigma_daily": [0.02, 0.05], "f": [1.0, 2.0]})
    grid = grid_frame(base, [0.1, 0.2], [4, 9])
    assert len(grid) == 8
    row = grid.iloc[3]  # base 0, threshold 0.2, horizon 9
    assert (row["threshold"], row["horizon_days"]) == (0.2, 9)
    assert row["z_distance"] == pytest.approx(np.log(0.8) / (0.02 * 3))


def test_monotonicity_counter_counts_exactly() -> None:
    base = pd.DataFrame({"sigma_daily": [0.03] * 3})
    x, h = np.linspace(0.05, 0.3, 6), np.arange(1, 8)
    assert monotonicity_violations(lambda f: np.exp(f["z_distance"]), base, x, h) == 0
    # rises with X everywhere: 3 rows x 5 threshold steps x 7 horizons
    assert monotonicity_violations(lambda f: f["threshold"], base, x, h) == 3 * 5 * 7
    # falls with H everywhere: 3 rows x 6 thresholds x 6 horizon steps
    assert monotonicity_violations(lambda f: 1 / f["horizon_days"], base, x, h) == 3 * 6 * 6
    # changes below the tolerance are not violations
    assert monotonicity_violations(lambda f: 1e-13 * f["threshold"], base, x, h) == 0
    with pytest.raises(ModelInputError, match="not_increasing"):
        monotonicity_violations(lambda f: f["threshold"], base, x[::-1], h)


def test_report_files(tmp_path: Path, scored: pd.DataFrame) -> None:
    metrics = breakdown(scored, ["p_model", "p_ref"], [], ref_col="p_ref")
    tables = {
        "model": reliability_table(scored["p_model"], scored["label"]),
        "climatology (ref)": reliability_table(scored["p_ref"], scored["label"], 5),
    }
    paths = write_backtest_report(tmp_path / "report", metrics, tables, "# Backtest\n")
    names = [p.name for p in paths]
    assert names == [
        "metrics.csv",
        "metrics.json",
        "reliability.png",
        "reliability_model.png",
        "reliability_climatology_ref.png",
        "summary.md",
    ]
    for png in paths[2:5]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert records[0]["model"] == "p_model"
    assert records[0]["brier_skill"] > 0
    pd.testing.assert_frame_equal(pd.read_csv(paths[0]), metrics, check_dtype=False)
    with pytest.raises(InvalidNameError, match="distinct as file names"):
        write_backtest_report(
            tmp_path / "r2", metrics, {"a b": tables["model"], "a_b": tables["model"]}, "x"
        )
