"""Out-of-sample backtest of a model spec against the baselines.

The backtest scores the spec's model and every baseline on the purged, embargoed
walk-forward folds whose test windows fall in ``[start, end]``: each fold trains on
what was labelled before its test window and predicts the window. Nothing is tuned on
the backtest period; the spec's fixed model parameters are used (tuned parameters come
from a study whose folds overlap the backtest window, so using them would leak).

Reported:

- Brier skill of the model against each baseline, overall and per horizon, with a
  circular block-bootstrap interval over time (blocks of whole as-of days, as long as
  the horizon, so overlapping label windows stay together);
- Brier, log loss and ECE per threshold (or level type), horizon, symbol and
  volatility regime for the model and every baseline;
- reliability tables of every model on all out-of-sample rows;
- drawdown specs: monotonicity violations of every fold's model on a dense
  (threshold, horizon) grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from downside.datasets import Frame, build_frame
from downside.errors import EmptyStoreError, PredictionInputError
from downside.evaluation import (
    block_bootstrap_ci,
    breakdown,
    brier_score,
    brier_skill,
    fold_chart,
    monotonicity_violations,
    reliability_table,
    skill_chart,
    write_backtest_report,
)
from downside.features import FeatureStore
from downside.models import FoldScore, ModelSpec, walk_forward
from downside.vocabulary import utc_day

MODEL = "model"
"""Name of the spec's model in the backtest tables (baselines keep their own names)."""

DENSE_THRESHOLDS = tuple(np.round(np.arange(0.02, 0.505, 0.01), 4).tolist())
"""Threshold grid of the monotonicity check: 2% to 50% in steps of one point."""

DENSE_HORIZONS = tuple(float(h) for h in range(1, 31))
"""Horizon grid of the monotonicity check: every day from 1 to 30."""

SKILL_COLUMNS = (
    "scope",
    "horizon_days",
    "baseline",
    "n",
    "event_rate",
    "brier_model",
    "brier_baseline",
    "skill",
    "skill_lower",
    "skill_upper",
)


@dataclass(frozen=True)
class BacktestResult:
    """What :func:`run_backtest` measured.

    Attributes:
        spec: the spec as backtested (symbols overridden if asked).
        start: first day of the out-of-sample window.
        end: last day of the out-of-sample window.
        predictions: one row per out-of-sample forecast: keys, ``label``, ``fold``,
            ``p_model`` and ``p_<baseline>``.
        skill: Brier skill of the model against each baseline (:data:`SKILL_COLUMNS`),
            ``scope`` ``overall`` or ``horizon``.
        metrics: scores of every model per group (``scope`` names the grouping).
        folds: one row per fold: window, training and test rows, Brier of every model.
        reliability: model name to its reliability table on all out-of-sample rows.
        monotonicity_violations: violating neighbour pairs on the dense grid (drawdown
            specs), or None for support specs.
        grid_points: predictions checked for monotonicity.
        best_baseline: the baseline with the lowest overall Brier.
        level: coverage of the bootstrap intervals.
    """

    spec: ModelSpec
    start: pd.Timestamp
    end: pd.Timestamp
    predictions: pd.DataFrame
    skill: pd.DataFrame
    metrics: pd.DataFrame
    folds: pd.DataFrame
    reliability: dict[str, pd.DataFrame]
    monotonicity_violations: int | None
    grid_points: int
    best_baseline: str
    level: float

    @property
    def models(self) -> list[str]:
        """The model, then the baselines, as named in the tables."""
        return [MODEL, *[c[2:] for c in self.predictions.columns if _is_baseline(c)]]

    def overall_skill(self, baseline: str) -> pd.Series:
        """The overall skill row against ``baseline``."""
        rows = self.skill[(self.skill["scope"] == "overall") & (self.skill["baseline"] == baseline)]
        return rows.iloc[0]


def _is_baseline(column: str) -> bool:
    return column.startswith("p_") and column != "p_model"


def run_backtest(
    spec: ModelSpec,
    feature_store: FeatureStore,
    *,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    symbols: Sequence[str] | None = None,
    params: Mapping[str, Any] | None = None,
    n_boot: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    dense_rows: int = 40,
    on_fold: Callable[[FoldScore], None] | None = None,
) -> BacktestResult:
    """Score the spec's model and the baselines out of sample over ``[start, end]``.

    Args:
        spec: the model spec (target, grid, features, walk-forward settings).
        feature_store: point-in-time features and stitched prices.
        start: first day of the out-of-sample window (UTC).
        end: last day of the out-of-sample window (UTC).
        symbols: override the spec's symbols.
        params: model parameters over the spec's (default: the spec's own).
        n_boot: bootstrap replicates per interval.
        level: coverage of the intervals.
        seed: seed of the bootstrap.
        dense_rows: as-of rows per fold expanded over the dense grid of the
            monotonicity check.
        on_fold: sees each fold's scores as they arrive (progress).

    Returns:
        The predictions, skill table, metrics, fold table and reliability tables.

    Raises:
        PredictionInputError: ``end`` before ``start``.
        InvalidTimeError: ``start`` or ``end`` is not a time.
        UnknownSymbolError: a symbol without prices.
        InsufficientHistoryError: no fold has a test window in the range.
        EmptyStoreError: no labelled out-of-sample row in the window.
        ModelSpecError: unknown features in the spec.
    """
    lo, hi = utc_day(start, "start"), utc_day(end, "end")
    if hi < lo:
        raise PredictionInputError(
            f"backtest window is empty: end {hi:%Y-%m-%d} is before start {lo:%Y-%m-%d}; "
            "pass a start earlier than the end"
        )
    if symbols:
        frame = replace(spec.frame, symbols=tuple(s.strip().upper() for s in symbols))
        spec = replace(spec, frame=frame)
    data = build_frame(spec.frame, feature_store)
    scores = walk_forward(
        spec,
        data,
        params,
        start=f"{lo:%Y-%m-%d}",
        end=f"{hi + pd.Timedelta(days=1):%Y-%m-%d}",
        baselines=True,
        keep_models=spec.target == "drawdown",
        on_fold=on_fold,
    )
    predictions = pd.concat([s.predictions for s in scores], ignore_index=True)
    predictions = predictions.sort_values(["asof", "symbol"], kind="stable").reset_index(drop=True)
    if predictions.empty:
        raise EmptyStoreError(
            f"no labelled out-of-sample rows between {lo:%Y-%m-%d} and {hi:%Y-%m-%d}; "
            "widen the window or ingest more history"
        )
    p_cols = ["p_model", *[c for c in predictions.columns if _is_baseline(c)]]
    renamed = predictions.rename(columns={c: c[2:] for c in p_cols})
    names = [c[2:] for c in p_cols]
    baselines = names[1:]
    overall = {n: brier_score(renamed[n].to_numpy(), renamed["label"].to_numpy()) for n in names}
    best = min(baselines, key=lambda n: overall[n])
    violations, points = (None, 0)
    if spec.target == "drawdown":
        violations, points = _monotonicity(scores, data, dense_rows)
    return BacktestResult(
        spec=spec,
        start=lo,
        end=hi,
        predictions=predictions,
        skill=_skill_table(renamed, baselines, n_boot=n_boot, level=level, seed=seed),
        metrics=_metrics_table(renamed, names, spec, best),
        folds=_fold_table(scores, names),
        reliability={
            n: reliability_table(renamed[n].to_numpy(), renamed["label"].to_numpy()) for n in names
        },
        monotonicity_violations=violations,
        grid_points=points,
        best_baseline=best,
        level=level,
    )


def _skill_rows(
    frame: pd.DataFrame,
    baselines: Sequence[str],
    *,
    scope: str,
    horizon: float,
    block_days: int,
    n_boot: int,
    level: float,
    seed: int,
) -> list[dict[str, Any]]:
    y = frame["label"].to_numpy(dtype=np.float64)
    p = frame[MODEL].to_numpy(dtype=np.float64)
    rows_per_day = max(1, round(len(frame) / max(frame["asof"].nunique(), 1)))
    block = int(min(max(rows_per_day * block_days, 1), len(frame)))
    out = []
    for name in baselines:
        ref = frame[name].to_numpy(dtype=np.float64)
        ci = block_bootstrap_ci(
            brier_skill, p, ref, y, block_length=block, n_boot=n_boot, seed=seed, level=level
        )
        out.append(
            {
                "scope": scope,
                "horizon_days": horizon,
                "baseline": name,
                "n": int(y.size),
                "event_rate": float(y.mean()),
                "brier_model": brier_score(p, y),
                "brier_baseline": brier_score(ref, y),
                "skill": ci.estimate,
                "skill_lower": ci.lower,
                "skill_upper": ci.upper,
            }
        )
    return out


def _skill_table(
    frame: pd.DataFrame, baselines: Sequence[str], *, n_boot: int, level: float, seed: int
) -> pd.DataFrame:
    horizons = sorted(frame["horizon_days"].unique())
    rows = _skill_rows(
        frame,
        baselines,
        scope="overall",
        horizon=float("nan"),
        block_days=int(max(horizons)),
        n_boot=n_boot,
        level=level,
        seed=seed,
    )
    for h in horizons:
        part = frame[frame["horizon_days"] == h]
        rows += _skill_rows(
            part,
            baselines,
            scope="horizon",
            horizon=float(h),
            block_days=max(int(np.ceil(h)), 1),
            n_boot=n_boot,
            level=level,
            seed=seed,
        )
    return pd.DataFrame.from_records(rows, columns=list(SKILL_COLUMNS))


def _metrics_table(
    frame: pd.DataFrame, names: Sequence[str], spec: ModelSpec, best: str
) -> pd.DataFrame:
    cell = "threshold" if spec.target == "drawdown" else "level_type"
    scopes: dict[str, tuple[str, ...]] = {
        "overall": (),
        "horizon_days": ("horizon_days",),
        cell: (cell,),
        "symbol": ("symbol",),
        "vol_regime": ("vol_regime",),
    }
    if spec.target == "drawdown":
        scopes["threshold_horizon"] = ("threshold", "horizon_days")
    parts = []
    for scope, by in scopes.items():
        table = breakdown(frame, list(names), by, ref_col=best)
        group = table[list(by)].astype(str).agg(" ".join, axis=1) if by else "all"
        table = table.drop(columns=list(by)).assign(scope=scope, group=group)
        parts.append(table)
    metrics = pd.concat(parts, ignore_index=True)
    metrics = metrics.rename(columns={"brier_skill": "brier_skill_vs_best_baseline"})
    lead = ["scope", "group", "model"]
    return metrics[lead + [c for c in metrics.columns if c not in lead]]


def _fold_table(scores: Sequence[FoldScore], names: Sequence[str]) -> pd.DataFrame:
    rows = []
    for s in scores:
        pred = s.predictions
        y = pred["label"].to_numpy()
        row: dict[str, Any] = {
            "fold": s.index,
            "test_start": s.test_start,
            "test_end": s.test_end,
            "n_train": s.n_train,
            "n_test": s.n_test,
            "event_rate": float(y.mean()) if len(y) else float("nan"),
        }
        for n in names:
            row[f"brier_{n}"] = brier_score(pred[f"p_{n}"].to_numpy(), y)
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def _predictor(model: Any, cols: list[str]) -> Callable[[pd.DataFrame], Any]:
    def predict(frame: pd.DataFrame) -> Any:
        return model.predict_proba(frame[cols])[:, 1]

    return predict


def _monotonicity(scores: Sequence[FoldScore], data: Frame, dense_rows: int) -> tuple[int, int]:
    labelled = data.labelled
    first_cell = (labelled["threshold"] == labelled["threshold"].iloc[0]) & (
        labelled["horizon_days"] == labelled["horizon_days"].iloc[0]
    )
    cells = labelled[first_cell]
    total, points = 0, 0
    cols = list(data.input_columns)
    for s in scores:
        if s.model is None:
            continue
        window = cells[(cells["asof"] >= s.test_start) & (cells["asof"] < s.test_end)]
        if window.empty:
            continue
        take = np.unique(np.linspace(0, len(window) - 1, min(dense_rows, len(window))).astype(int))
        base = window.iloc[take]
        total += monotonicity_violations(
            _predictor(s.model, cols),
            base,
            DENSE_THRESHOLDS,
            DENSE_HORIZONS,
        )
        points += len(base) * len(DENSE_THRESHOLDS) * len(DENSE_HORIZONS)
    return total, points


def _pct(value: Any) -> str:
    return f"{100.0 * float(value):+.1f}%"


def _interval(row: pd.Series) -> str:
    return f"{_pct(row['skill'])} [{_pct(row['skill_lower'])}, {_pct(row['skill_upper'])}]"


def summary_markdown(result: BacktestResult, *, command: str | None = None) -> str:
    """The Markdown summary of a backtest: skill per horizon with intervals, the verdict
    against the best baseline, calibration, monotonicity and the breakdowns."""
    spec, skill = result.spec, result.skill
    baselines = list(dict.fromkeys(skill["baseline"]))
    n_folds = len(result.folds)
    preds = result.predictions
    lines = [
        f"# Backtest: `{spec.name}` ({spec.target})",
        "",
        f"- Symbols: {', '.join(spec.frame.symbols)}; out-of-sample as-of days "
        f"{result.start:%Y-%m-%d} to {result.end:%Y-%m-%d}; {n_folds} purged walk-forward "
        f"folds ({spec.scheme}, test windows of {spec.test_days} days, embargo "
        f"{spec.embargo_days:g} day(s)); {len(preds):,} forecasts, event rate "
        f"{preds['label'].mean():.3f}.",
        "- Every fold trains only on labels known before its test window; the model uses the "
        "spec's fixed parameters (nothing is tuned on this window).",
        f"- Intervals: {result.level:.0%} circular block bootstrap over time (blocks of whole "
        "days as long as the horizon).",
    ]
    if command:
        lines += [f"- Reproduce: `{command}`"]
    header = "| horizon | n | event rate | Brier model | " + " | ".join(
        f"skill vs {b}" for b in baselines
    )
    lines += ["", "## Brier skill of the model against each baseline", "", header + " |"]
    lines += ["|" + "---|" * (4 + len(baselines))]
    for scope, rows in (
        ("horizon", skill[skill["scope"] == "horizon"]),
        ("overall", skill[skill["scope"] == "overall"]),
    ):
        for h, part in rows.groupby("horizon_days", dropna=False, sort=True):
            first = part.iloc[0]
            label = "**all**" if scope == "overall" else f"{h:g} d"
            cells = [
                label,
                f"{int(first['n']):,}",
                f"{first['event_rate']:.3f}",
                f"{first['brier_model']:.4f}",
            ]
            cells += [_interval(part[part["baseline"] == b].iloc[0]) for b in baselines]
            lines.append("| " + " | ".join(cells) + " |")
    best = result.overall_skill(result.best_baseline)
    lines += ["", "## Verdict", ""]
    if best["skill_lower"] > 0:
        verdict = (
            f"The model beats the best baseline ({result.best_baseline}) overall: Brier skill "
            f"{_interval(best)}, the whole interval above zero."
        )
    elif best["skill"] > 0:
        verdict = (
            f"The model is ahead of the best baseline ({result.best_baseline}) overall, "
            f"skill {_interval(best)}, but the interval includes zero: not a reliable win."
        )
    else:
        verdict = (
            f"The model does NOT beat the best baseline ({result.best_baseline}) overall: "
            f"Brier skill {_interval(best)}."
        )
    lines.append(verdict)
    losing = skill[(skill["scope"] == "horizon") & (skill["skill"] <= 0)]
    if not losing.empty:
        lines.append("")
        lines.append(
            "Where it does not beat a baseline: "
            + "; ".join(
                f"{r.horizon_days:g} d vs {r.baseline} ({_pct(r.skill)})"
                for r in losing.itertuples(index=False)
            )
            + "."
        )
    overall = result.metrics[result.metrics["scope"] == "overall"]
    lines += [
        "",
        "## Calibration",
        "",
        "| model | Brier | log loss | ECE |",
        "|---|---|---|---|",
    ]
    for r in overall.itertuples(index=False):
        lines.append(f"| {r.model} | {r.brier:.4f} | {r.log_loss:.4f} | {r.ece:.4f} |")
    lines += ["", "![reliability](reliability.png)", "", "![skill](skill_by_horizon.png)"]
    lines += ["", "![folds](brier_by_fold.png)", ""]
    if result.monotonicity_violations is not None:
        lines += [
            "## Monotonicity",
            "",
            f"{result.monotonicity_violations} violations on a dense grid "
            f"({len(DENSE_THRESHOLDS)} thresholds x {len(DENSE_HORIZONS)} horizons, "
            f"{result.grid_points:,} predictions of every fold's model): the probability "
            "never rises with the threshold and never falls with the horizon"
            + (" anywhere." if result.monotonicity_violations == 0 else " except there."),
            "",
        ]
    lines += ["## Breakdowns", "", "Brier by group (lower is better):", ""]
    for scope in ("symbol", "vol_regime"):
        part = result.metrics[result.metrics["scope"] == scope]
        table = part.pivot_table(index="group", columns="model", values="brier", sort=True)
        table = table[[m for m in result.models if m in table.columns]]
        lines.append(f"| {scope} | " + " | ".join(table.columns) + " |")
        lines.append("|" + "---|" * (1 + len(table.columns)))
        for group, row in table.iterrows():
            lines.append(f"| {group} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
        lines.append("")
    lines.append("Full tables: `metrics.csv`, `skill.csv`, `folds.csv`, `predictions.parquet`.")
    return "\n".join(lines) + "\n"


def write_backtest(
    result: BacktestResult, out_dir: Path, *, command: str | None = None
) -> list[Path]:
    """Write the backtest folder: ``metrics.csv/json``, ``skill.csv/json``,
    ``folds.csv``, ``predictions.parquet``, ``reliability*.png``,
    ``skill_by_horizon.png``, ``brier_by_fold.png`` and ``summary.md``.

    Returns:
        The written paths.
    """
    written = write_backtest_report(
        out_dir, result.metrics, result.reliability, summary_markdown(result, command=command)
    )
    skill_csv = out_dir / "skill.csv"
    result.skill.to_csv(skill_csv, index=False)
    skill_json = out_dir / "skill.json"
    skill_json.write_text(result.skill.to_json(orient="records", indent=2) + "\n")
    folds_csv = out_dir / "folds.csv"
    result.folds.to_csv(folds_csv, index=False)
    preds = out_dir / "predictions.parquet"
    result.predictions.to_parquet(preds, index=False)
    horizon_skill = result.skill[result.skill["scope"] == "horizon"]
    written += [
        skill_csv,
        skill_json,
        folds_csv,
        preds,
        skill_chart(horizon_skill, out_dir / "skill_by_horizon.png"),
        fold_chart(result.folds, out_dir / "brier_by_fold.png"),
    ]
    return written
