"""`downside backtest`: out-of-sample skill against baselines on a simulated market."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downside.config import load_settings
from downside.errors import PredictionInputError
from downside.evaluation import brier_skill
from downside.features import FeatureStore
from downside.models import load_spec
from downside.sources import simulate_market
from downside.store import Store
from downside.workflows import BacktestResult, run_ablation, run_backtest, write_backtest

SPEC = """
name = "drawdown"
target = "drawdown"

[data]
symbols = ["BTC", "ETH"]

[grid]
thresholds = [0.05, 0.10, 0.20]
horizons_days = [1, 7, 14]

[features]
families = ["leverage", "funding", "etf_flows", "rates", "technical"]

[walk_forward]
scheme = "expanding"
test_days = 120
embargo_days = 1
min_train_days = 360

[model]
n_estimators = 40
learning_rate = 0.1
num_leaves = 7
min_child_samples = 100
base = "vol_logistic"
"""
START, END = "2023-01-01", "2023-12-31"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("backtest")
    settings = load_settings({"home": root / "home"})
    sim = simulate_market(root / "market", start="2021-07-01", end="2024-03-31", seed=3)
    Store.from_settings(settings).ingest_files(sim.out_dir)
    (root / "spec.toml").write_text(SPEC, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def result(home: Path) -> BacktestResult:
    settings = load_settings({"home": home / "home"})
    spec = load_spec(home / "spec.toml", home)
    return run_backtest(spec, FeatureStore.from_settings(settings), start=START, end=END, n_boot=50)


def test_predictions_are_out_of_sample_and_inside_the_window(result: BacktestResult) -> None:
    preds = result.predictions
    assert preds["asof"].min() >= pd.Timestamp(START, tz="UTC")
    assert preds["asof"].max() <= pd.Timestamp(END, tz="UTC")
    assert len(result.folds) >= 3
    for fold in result.folds.itertuples():
        assert fold.n_train > 0
        rows = preds[preds["fold"] == fold.fold]
        assert rows["asof"].min() >= fold.test_start
        assert rows["asof"].max() < fold.test_end
    assert {"p_model", "p_climatology", "p_gbm_ewma", "p_vol_logistic"} <= set(preds.columns)


def test_skill_table_matches_a_recomputation(result: BacktestResult) -> None:
    preds, skill = result.predictions, result.skill
    horizons = sorted(preds["horizon_days"].unique())
    baselines = sorted(set(skill["baseline"]))
    assert len(skill) == len(baselines) * (1 + len(horizons))
    for row in skill.itertuples():
        part = preds if row.scope == "overall" else preds[preds["horizon_days"] == row.horizon_days]
        y = part["label"].to_numpy()
        expected = brier_skill(part["p_model"].to_numpy(), part[f"p_{row.baseline}"].to_numpy(), y)
        assert row.skill == pytest.approx(expected, rel=1e-12)
        assert row.skill_lower <= row.skill <= row.skill_upper
        assert row.n == len(part)
    assert result.best_baseline in baselines


def test_surface_is_monotone_on_a_dense_grid(result: BacktestResult) -> None:
    assert result.monotonicity_violations == 0
    assert result.grid_points >= len(result.folds) * 49 * 30


def test_metrics_cover_every_breakdown(result: BacktestResult) -> None:
    scopes = set(result.metrics["scope"])
    assert {"overall", "horizon_days", "threshold", "symbol", "vol_regime"} <= scopes
    overall = result.metrics[result.metrics["scope"] == "overall"]
    assert set(overall["model"]) == set(result.models)
    assert np.isfinite(overall[["brier", "log_loss", "ece"]].to_numpy()).all()


def test_report_files(result: BacktestResult, tmp_path: Path) -> None:
    written = write_backtest(result, tmp_path / "out", command="downside backtest ...")
    names = {p.name for p in written}
    expected = {"metrics.csv", "metrics.json", "skill.csv", "skill.json", "folds.csv"}
    assert expected | {"summary.md", "predictions.parquet"} <= names
    for png in ("reliability.png", "skill_by_horizon.png", "brier_by_fold.png"):
        data = (tmp_path / "out" / png).read_bytes()
        assert data.startswith(b"\x89PNG")
        assert len(data) > 5_000
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## Verdict" in summary
    for section in ("## Joint surface score", "## Murphy decomposition", "## Model confidence set"):
        assert section in summary
    assert {"joint.csv", "losses.parquet", "mcs.csv", "quarters.csv"} <= names
    assert "downside backtest ..." in summary
    assert "0 violations" in summary
    for h in ("1 d", "7 d", "14 d"):
        assert f"| {h} |" in summary
    assert len(pd.read_csv(tmp_path / "out" / "skill.csv")) == len(result.skill)


def test_every_baseline_is_scored_and_the_best_has_the_lowest_joint_score(
    result: BacktestResult,
) -> None:
    from downside.workflows._baselines import BASELINE_NAMES

    assert set(BASELINE_NAMES) <= set(result.models)
    overall = result.joint[result.joint["scope"] == "overall"].set_index("model")
    baselines = overall.drop(index="model")
    assert result.best_baseline == baselines["joint_score"].idxmin()
    assert (overall["reference"] == result.best_baseline).all()
    assert overall.loc[result.best_baseline, "skill"] == 0.0


def test_joint_score_is_the_mean_brier_over_the_fine_threshold_grid(
    result: BacktestResult,
) -> None:
    from downside.workflows._scoring import FINE_THRESHOLDS

    losses = result.losses
    assert (losses["n"] == len(FINE_THRESHOLDS)).all()
    overall = result.joint[(result.joint["scope"] == "overall")].set_index("model")
    for model in result.models:
        assert overall.loc[model, "joint_score"] == pytest.approx(losses[model].mean())
    row = result.joint_skill()
    daily = losses.groupby("asof")[["model", result.best_baseline]].sum().sum()
    assert row["skill"] == pytest.approx(1 - daily["model"] / daily[result.best_baseline])
    assert row["skill_lower"] <= row["skill"] <= row["skill_upper"]


def test_diagnostics_cover_every_model(result: BacktestResult) -> None:
    d = result.decomposition.set_index("model")
    np.testing.assert_allclose(
        d["brier"], d["miscalibration"] - d["discrimination"] + d["uncertainty"], atol=1e-12
    )
    assert set(result.mcs["model"]) == set(result.models)
    assert result.mcs["included"].any()
    assert result.mcs.set_index("model").loc[result.best_baseline, "included"]
    q = result.quarters
    assert q["n"].sum() == len(result.predictions)
    assert {"vol_regime", "period"} == set(result.regimes["scope"])
    assert set(result.regimes.loc[result.regimes["scope"] == "period", "group"]) <= {
        "calm",
        "drawdown-heavy",
    }


def test_window_must_be_ordered(home: Path) -> None:
    settings = load_settings({"home": home / "home"})
    spec = load_spec(home / "spec.toml", home)
    with pytest.raises(PredictionInputError, match="end 2023-01-01 is before start 2023-06-01"):
        run_backtest(
            spec, FeatureStore.from_settings(settings), start="2023-06-01", end="2023-01-01"
        )


def test_ablation_variants_and_their_agreement_with_the_backtest(home: Path) -> None:
    """Every variant is scored on the backtest's folds and rows: the variant with exactly
    the spec's families (every family of the repository but implied_vol) has the backtest
    model's joint score."""
    settings = load_settings({"home": home / "home"})
    fs = FeatureStore.from_settings(settings)
    families = fs.family_names()
    loaded = load_spec(home / "spec.toml", home)
    kept = tuple(f for f in families if f != "implied_vol")
    spec = replace(loaded, frame=replace(loaded.frame, families=kept))
    start, end = "2023-09-01", "2023-12-31"
    ablation = run_ablation(spec, fs, start=start, end=end, n_boot=20)
    backtest = run_backtest(spec, fs, start=start, end=end, n_boot=20)

    table = ablation.table.set_index("variant")
    expected = ["volatility base", "all families"]
    expected += [f"- {f}" for f in families] + [f"+ {f}" for f in families]
    assert list(table.index) == expected
    assert table.loc["volatility base", "skill_vs_base"] == 0.0
    assert table.loc["all families", "skill_vs_full"] == 0.0
    assert table.loc["volatility base", "n_features"] == 0
    assert (table["joint_score"] > 0).all()
    left_out = sorted(set(families) - set(spec.frame.families))
    assert left_out == ["implied_vol"]
    model = backtest.joint[
        (backtest.joint["scope"] == "overall") & (backtest.joint["model"] == "model")
    ]
    assert table.loc["- implied_vol", "joint_score"] == pytest.approx(
        float(model["joint_score"].iloc[0]), rel=1e-12
    )
