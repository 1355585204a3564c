"""Out-of-sample backtest of a model spec against the baselines.

The backtest scores the spec's model and every baseline on the purged, embargoed
walk-forward folds whose test windows fall in ``[start, end]``: each fold trains on
what was labelled before its test window and predicts the window. Nothing is tuned on
the backtest period; the spec's fixed model parameters are used (tuned parameters come
from a study whose folds overlap the backtest window, so using them would leak).

Reported (see :mod:`downside.workflows._baselines` for the eight baselines and
:mod:`downside.workflows._scoring` for the scores):

- the joint surface score (mean Brier over thresholds of 1% to 50%) of the model and
  every baseline, overall and per horizon, and the model's skill against the best
  baseline (the one with the lowest joint score) and against each baseline, with
  circular block-bootstrap intervals over days (blocks as long as the horizon, so
  overlapping label windows stay together);
- the Murphy decomposition, the model confidence set, calibration per quarter, scores
  per volatility tercile and drawdown-heavy/calm period, and the early warning before
  every drawdown of 15% or more;
- Brier skill on the spec's own grid against each baseline, overall and per horizon;
- Brier, log loss and ECE per threshold (or level type), horizon, symbol and
  volatility regime for the model and every baseline;
- reliability tables of every model on all out-of-sample rows;
- drawdown specs: monotonicity violations of every fold's model on a dense
  (threshold, horizon) grid.
"""

from __future__ import annotations

import functools
import json
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.datasets import Fold, Frame, build_frame, daily_prices
from downside.errors import EmptyStoreError, InsufficientHistoryError, PredictionInputError
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
from downside.models import FoldScore, ModelSpec, daily_rows, folds, score_fold, test_rows
from downside.vocabulary import utc_day
from downside.workflows._baselines import FoldBaselines, VolatilityHistory
from downside.workflows._engine import (
    DaskEngine,
    Engine,
    FeatureStoreRef,
    building_on,
    resolve,
)
from downside.workflows._scoring import (
    FINE_THRESHOLDS,
    best_reference,
    calibration_by_quarter,
    decomposition_table,
    drawdown_episodes,
    early_warning,
    fine_rows,
    joint_losses,
    joint_table,
    model_confidence_set,
    regime_table,
    skill_interval,
)

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
        predictions: one row per out-of-sample forecast on the spec's grid: keys,
            ``label``, ``fold``, ``p_model`` and ``p_<baseline>``.
        skill: Brier skill of the model against each baseline on the spec's grid
            (:data:`SKILL_COLUMNS`), ``scope`` ``overall`` or ``horizon``.
        metrics: scores of every model per group (``scope`` names the grouping).
        folds: one row per fold: window, training and test rows, Brier of every model.
        reliability: model name to its reliability table on all out-of-sample rows.
        monotonicity_violations: violating neighbour pairs on the dense grid (drawdown
            specs), or None for support specs.
        grid_points: predictions checked for monotonicity.
        best_baseline: the baseline with the lowest joint score.
        level: coverage of the bootstrap intervals.
        losses: joint surface losses per (symbol, asof, horizon) of every model (the
            fine threshold grid for drawdowns, the levels for supports).
        joint: joint score of every model, overall and per horizon, and its skill
            against the best baseline with the interval.
        joint_vs: overall joint skill of the model against every baseline.
        decomposition: Murphy decomposition of every model.
        mcs: the model confidence set of the daily joint losses.
        quarters: realized event rate and mean forecasts per quarter.
        regimes: joint scores per volatility tercile and drawdown-heavy/calm period.
        episodes: drawdowns of 15% or more and the forecasts before them (drawdowns).
        warning: lift of the model over the best baseline before those drawdowns.
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
    losses: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    joint: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    joint_vs: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    decomposition: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    mcs: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    quarters: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    regimes: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    episodes: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    warning: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        """The model, then the baselines, as named in the tables."""
        return [MODEL, *[c[2:] for c in self.predictions.columns if _is_baseline(c)]]

    def overall_skill(self, baseline: str) -> pd.Series:
        """The overall skill row against ``baseline`` (spec grid, Brier)."""
        rows = self.skill[(self.skill["scope"] == "overall") & (self.skill["baseline"] == baseline)]
        return rows.iloc[0]

    def joint_skill(self) -> pd.Series:
        """The model's overall joint-score skill row against the best baseline."""
        rows = self.joint[(self.joint["scope"] == "overall") & (self.joint["model"] == MODEL)]
        return rows.iloc[0]


def _is_baseline(column: str) -> bool:
    return column.startswith("p_") and column != "p_model"


@dataclass
class _FoldRun:
    """One fold's scores and out-of-sample rows (spec grid and, for drawdowns, the fine
    threshold grid of the joint score), and its model's monotonicity violations and
    points checked on the dense grid (drawdowns). The model itself is not kept."""

    score: FoldScore
    coarse: pd.DataFrame
    fine: pd.DataFrame | None
    violations: int = 0
    points: int = 0


@dataclass
class _Inputs:
    """What every fold reads: the spec's frame, its folds in the window, the
    time-series baselines' history, the fine-grid rows of the joint score (drawdowns)
    and the as-of rows of the dense monotonicity check."""

    data: Frame
    folds: list[Fold]
    history: VolatilityHistory
    fine_all: pd.DataFrame | None
    cells: pd.DataFrame | None


def _fine_history(
    spec: ModelSpec, feature_store: FeatureStore, symbols: Sequence[str] | None = None
) -> pd.DataFrame:
    """The labelled fine-grid rows of every training symbol (scored and pooled; or of
    ``symbols``) that the fine climatology learns from: ``threshold, horizon_days,
    label, label_end``, built one symbol at a time (each symbol's rows depend on its own
    prices only), so the largest transient is one symbol's rows, not the universe's."""
    parts = []
    every = (*spec.frame.symbols, *spec.frame.pool_symbols) if symbols is None else symbols
    for symbol in dict.fromkeys(every):
        rows = build_frame(
            replace(spec.frame, train_hours=(0,)),
            feature_store,
            symbols=[symbol],
            thresholds=FINE_THRESHOLDS,
            features=[],
        )
        label = np.asarray(rows.columns["label"], dtype=np.float64)
        keep = np.flatnonzero(~np.isnan(label))
        parts.append(
            pd.DataFrame(
                {
                    "threshold": np.asarray(rows.columns["threshold"])[keep],
                    "horizon_days": np.asarray(rows.columns["horizon_days"])[keep],
                    "label": label[keep],
                    "label_end": rows.columns["label_end"].take(keep),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _inputs(
    spec: ModelSpec, feature_store: FeatureStore, lo: pd.Timestamp, hi: pd.Timestamp
) -> _Inputs:
    data = build_frame(spec.frame, feature_store)
    fine_all = None
    cells = None
    if spec.target == "drawdown":
        fine_all = _fine_history(spec, feature_store)
        cells = _first_cell(daily_rows(spec, data.labelled))
    return _Inputs(
        data,
        _window_folds(spec, data, lo, hi),
        VolatilityHistory.of(feature_store),
        fine_all,
        cells,
    )


def _first_cell(labelled: pd.DataFrame) -> pd.DataFrame:
    """The rows of the first (threshold, horizon) cell of a drawdown frame."""
    first_cell = (labelled["threshold"] == labelled["threshold"].iloc[0]) & (
        labelled["horizon_days"] == labelled["horizon_days"].iloc[0]
    )
    cells: pd.DataFrame = labelled[first_cell]
    return cells


@dataclass(frozen=True)
class _PartitionedKeys:
    """What the client keeps of the rows without features, read a partition at a time:
    the distinct ``asof, label_end`` pairs of every labelled row (the folds only depend
    on these), the distinct ``symbol, asof`` keys of the scored symbols' labelled rows
    in the window, and the first grid cell's rows in the window (the dense check)."""

    times: pd.DataFrame
    tests: pd.DataFrame
    cells: pd.DataFrame | None


def _partitioned_keys(
    spec: ModelSpec, feature_store: FeatureStore, lo: pd.Timestamp, hi: pd.Timestamp
) -> _PartitionedKeys:
    """:class:`_PartitionedKeys` of a spec's symbols (scored and pooled), built from one
    partition of symbols at a time so the client never holds the universe's rows. The
    folds, test keys and dense-check rows equal those of the whole frame: a fold's
    boundaries depend only on the times of its rows, and rows are in ``asof, symbol``
    order (the frame's) once the partitions are merged."""
    from downside.workflows._partitioned import partitions

    scored = set(spec.frame.symbols)
    end = hi + pd.Timedelta(days=1)
    times, tests, cells = [], [], []
    cell: tuple[float, float] | None = None
    for part in partitions([*spec.frame.symbols, *spec.frame.pool_symbols]):
        rows = build_frame(spec.frame, feature_store, symbols=list(part), features=[]).labelled
        times.append(rows[["asof", "label_end"]].drop_duplicates())
        every_day = daily_rows(spec, rows)
        daily = every_day[(every_day["asof"] >= lo) & (every_day["asof"] < end)]
        tests.append(daily.loc[daily["symbol"].isin(scored), ["symbol", "asof"]].drop_duplicates())
        if spec.target == "drawdown" and len(daily):
            if cell is None:
                first = _first_cell(every_day)
                cell = (float(first["threshold"].iloc[0]), float(first["horizon_days"].iloc[0]))
            cells.append(
                daily[(daily["threshold"] == cell[0]) & (daily["horizon_days"] == cell[1])]
            )
        del rows, every_day, daily
    in_order = ["asof", "symbol"]
    return _PartitionedKeys(
        times=pd.concat(times, ignore_index=True).drop_duplicates().reset_index(drop=True),
        tests=pd.concat(tests, ignore_index=True)
        .sort_values(in_order, kind="stable")
        .reset_index(drop=True),
        cells=(
            pd.concat(cells, ignore_index=True)
            .sort_values(in_order, kind="stable")
            .reset_index(drop=True)
            if cells
            else None
        ),
    )


def _partitioned_runs(
    spec: ModelSpec,
    feature_store: FeatureStore,
    engine: DaskEngine,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    params: Mapping[str, Any] | None,
    dense_rows: int,
    arrived: Callable[[int, _FoldRun], None],
) -> list[_FoldRun]:
    """The folds of a spec with ``distributed = true`` on a cluster, each over
    partitions of symbols (:mod:`downside.workflows._partitioned`); the client reads the
    rows without features one partition at a time (:func:`_partitioned_keys`) and
    builds the few rows of the dense monotonicity check."""
    from downside.workflows._partitioned import run_partitioned_fold

    keys = _partitioned_keys(spec, feature_store, lo, hi)
    cells = keys.cells
    runs = []
    for fold in _window_folds(spec, keys.times, lo, hi):
        window = keys.tests[
            (keys.tests["asof"] >= fold.test_start) & (keys.tests["asof"] < fold.test_end)
        ]
        test_keys = window[["symbol", "asof"]]
        done = run_partitioned_fold(
            spec, feature_store, engine, fold, test_keys.reset_index(drop=True), params
        )
        violations, points = 0, 0
        if cells is not None:
            base_keys = _dense_base(cells, fold.test_start, fold.test_end, dense_rows)
            base = build_frame(
                spec.frame,
                feature_store,
                asof=base_keys[["symbol", "asof"]],
                thresholds=[float(cells["threshold"].iloc[0])],
                horizons_days=[float(cells["horizon_days"].iloc[0])],
            )
            violations, points = _monotonicity(
                done.score, base.labelled, base.input_columns, dense_rows
            )
        run = _FoldRun(replace(done.score, model=None), done.coarse, done.fine, violations, points)
        arrived(fold.index, run)
        runs.append(run)
    return runs


def _run_fold(
    spec: ModelSpec,
    feature_store: FeatureStore,
    inputs: _Inputs,
    fold: Fold,
    params: Mapping[str, Any] | None,
    dense_rows: int,
) -> _FoldRun:
    """Fit the model and every baseline on the fold's training rows, predict its test
    rows, and check the model's monotonicity on the dense grid (drawdowns)."""
    data, history, fine_all = inputs.data, inputs.history, inputs.fine_all
    score = score_fold(spec, data, fold, params, keep_model=True)
    labelled = data.labelled
    test = test_rows(spec, data, fold)
    coarse = score.predictions
    baselines = FoldBaselines(spec, history).fit(
        labelled.iloc[fold.train_idx], pd.Timestamp(fold.test_start)
    )
    predicted = baselines.predict(test)
    for name, p in predicted.items():
        coarse[f"p_{name}"] = _fallback(name, p, predicted)
    fine = None
    violations, points = 0, 0
    if fine_all is not None and inputs.cells is not None:
        rows = fine_rows(spec, feature_store, test, data.feature_columns)
        assert score.model is not None
        fine = rows[["symbol", "asof", "threshold", "horizon_days", "label", "sigma_daily"]].copy()
        fine["p_model"] = score.model.predict_proba(rows[list(data.input_columns)])[:, 1]
        before = fine_all[fine_all["label_end"] < fold.test_start]
        baselines.fit_fine_climatology(before)
        predicted = baselines.predict(rows, fine=True)
        for name, p in predicted.items():
            fine[f"p_{name}"] = _fallback(name, p, predicted)
        violations, points = _monotonicity(score, inputs.cells, data.input_columns, dense_rows)
    return _FoldRun(replace(score, model=None), coarse, fine, violations, points)


@dataclass(frozen=True)
class _FoldTask:
    """One fold of a backtest as a task for a worker: it opens the feature store, builds
    the same inputs as the driver would (once per worker process, reused by the next
    fold) and runs :func:`_run_fold`."""

    spec: ModelSpec
    store: FeatureStoreRef
    lo: pd.Timestamp
    hi: pd.Timestamp
    params: Mapping[str, Any] | None
    dense_rows: int

    def __call__(self, fold: tuple[int, pd.Timestamp]) -> _FoldRun:
        index, test_start = fold
        feature_store = self.store.open()
        inputs = _worker_inputs(
            pickle.dumps(self.spec), self.store, feature_store.cache_key(), self.lo, self.hi
        )
        found = inputs.folds[index]
        if found.test_start != test_start:
            raise RuntimeError(
                f"fold {index} starts at {found.test_start} on this worker but at "
                f"{test_start} on the client: the worker sees another store version; "
                "give every worker the same store folder"
            )
        return _run_fold(self.spec, feature_store, inputs, found, self.params, self.dense_rows)


@functools.lru_cache(maxsize=1)
def _worker_inputs(
    spec: bytes, store: FeatureStoreRef, version: str, lo: pd.Timestamp, hi: pd.Timestamp
) -> _Inputs:
    """The inputs of a backtest in a worker process, kept for its next fold (one
    backtest at a time; keyed by the pickled spec, the store and its version (the
    feature cache key) and the window)."""
    return _inputs(pickle.loads(spec), store.open(), lo, hi)


def _fallback(name: str, p: npt.NDArray[np.float64], all_: Mapping[str, Any]) -> Any:
    """Rows a time-series baseline cannot forecast (no fit for the symbol) take the
    Parkinson GBM's probability."""
    if np.isnan(p).any() and "gbm_parkinson" in all_:
        return np.where(np.isnan(p), all_["gbm_parkinson"], p)
    return p


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
    engine: Engine | None = None,
) -> BacktestResult:
    """Score the spec's model and every baseline out of sample over ``[start, end]``.

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
        on_fold: sees each fold's scores as they arrive (progress; on a cluster in the
            order folds finish).
        engine: where the folds run (default: the current engine of a
            :func:`~downside.workflows.connect` block, else this process); each fold is
            one task; results are identical either way.

    Returns:
        The predictions, skill tables (spec grid and joint surface score), metrics,
        decomposition, model confidence set, regimes and early warning.

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
    run = resolve(engine)

    def arrived(_: int, result: _FoldRun) -> None:
        if on_fold is not None:
            on_fold(result.score)

    with building_on(feature_store, run):
        if run.is_local:
            inputs = _inputs(spec, feature_store, lo, hi)
            runs = run.map(
                lambda fold: _run_fold(spec, feature_store, inputs, fold, params, dense_rows),
                inputs.folds,
                on_result=arrived,
            )
            del inputs
        elif spec.distributed and isinstance(run, DaskEngine):
            runs = _partitioned_runs(spec, feature_store, run, lo, hi, params, dense_rows, arrived)
        else:
            # the client only needs the folds: rows without features give the same ones
            keys = build_frame(spec.frame, feature_store, features=[])
            fold_list = _window_folds(spec, keys, lo, hi)
            del keys
            task = _FoldTask(spec, FeatureStoreRef.of(feature_store), lo, hi, params, dense_rows)
            runs = run.map(
                task,
                [(f.index, f.test_start) for f in fold_list],
                label="fold",
                on_result=arrived,
            )
    predictions = pd.concat([r.coarse for r in runs], ignore_index=True)
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
    scored = (
        pd.concat([r.fine for r in runs if r.fine is not None], ignore_index=True)
        if spec.target == "drawdown"
        else predictions
    ).rename(columns={c: c[2:] for c in p_cols})
    losses = joint_losses(scored, names)
    best = best_reference(losses, baselines)
    scores = [r.score for r in runs]
    violations, points = (None, 0)
    if spec.target == "drawdown":
        violations = sum(r.violations for r in runs)
        points = sum(r.points for r in runs)
    quarters = calibration_by_quarter(renamed, names)
    heavy = set(quarters.loc[quarters["heavy"], "quarter"])
    sigma = losses[["symbol", "asof"]].merge(
        renamed[["symbol", "asof", "sigma_daily"]].drop_duplicates(["symbol", "asof"]),
        on=["symbol", "asof"],
        how="left",
    )["sigma_daily"]
    episodes: pd.DataFrame = pd.DataFrame()
    warning: dict[str, Any] = {}
    if spec.target == "drawdown":
        found = drawdown_episodes(daily_prices(feature_store), lo, hi)
        found = found[found["symbol"].isin(spec.frame.symbols)]
        episodes, warning = early_warning(
            renamed, found, MODEL, best, n_boot=n_boot, level=level, seed=seed
        )
    return BacktestResult(
        spec=spec,
        start=lo,
        end=hi,
        predictions=predictions,
        skill=_skill_table(renamed, baselines, n_boot=n_boot, level=level, seed=seed),
        metrics=_metrics_table(renamed, names, spec, best),
        folds=_fold_table(scores, names, [r.coarse for r in runs]),
        reliability={
            n: reliability_table(renamed[n].to_numpy(), renamed["label"].to_numpy()) for n in names
        },
        monotonicity_violations=violations,
        grid_points=points,
        best_baseline=best,
        level=level,
        losses=losses,
        joint=joint_table(losses, names, best, n_boot=n_boot, level=level, seed=seed),
        joint_vs=_joint_vs(losses, baselines, n_boot=n_boot, level=level, seed=seed),
        decomposition=decomposition_table(scored, names),
        mcs=model_confidence_set(losses, names, n_boot=n_boot, seed=seed),
        quarters=quarters,
        regimes=regime_table(losses, names, heavy, sigma),
        episodes=episodes,
        warning=warning,
    )


def _window_folds(
    spec: ModelSpec, data: Frame | pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp
) -> list[Fold]:
    """The walk-forward folds whose test windows lie in ``[lo, hi]`` (of a frame's
    labelled rows, or of ``asof, label_end`` rows).

    Raises:
        InsufficientHistoryError: there is none.
    """
    found = list(
        folds(spec, data, start=f"{lo:%Y-%m-%d}", end=f"{hi + pd.Timedelta(days=1):%Y-%m-%d}")
    )
    if not found:
        raise InsufficientHistoryError(
            f"no walk-forward folds for spec {spec.name!r} between {lo:%Y-%m-%d} and "
            f"{hi:%Y-%m-%d}: the labelled history is shorter than min_train_days="
            f"{spec.min_train_days} + test_days={spec.test_days}; ingest more history or "
            "lower walk_forward.min_train_days"
        )
    return found


def _joint_vs(
    losses: pd.DataFrame, baselines: Sequence[str], *, n_boot: int, level: float, seed: int
) -> pd.DataFrame:
    horizon = int(losses["horizon_days"].max())
    rows = []
    for b in baselines:
        est, lo, hi = skill_interval(
            losses, MODEL, b, block_days=horizon, n_boot=n_boot, level=level, seed=seed
        )
        rows.append({"baseline": b, "skill": est, "skill_lower": lo, "skill_upper": hi})
    return pd.DataFrame.from_records(rows)


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


def _fold_table(
    scores: Sequence[FoldScore], names: Sequence[str], predictions: Sequence[pd.DataFrame]
) -> pd.DataFrame:
    rows = []
    for s, pred in zip(scores, predictions, strict=True):
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


def _dense_base(
    cells: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, dense_rows: int
) -> pd.DataFrame:
    """Up to ``dense_rows`` rows of ``cells`` (one grid cell's rows) with as-of times in
    ``[start, end)``, evenly spaced: the base rows of the dense monotonicity check."""
    window = cells[(cells["asof"] >= start) & (cells["asof"] < end)]
    take = np.unique(np.linspace(0, len(window) - 1, min(dense_rows, len(window))).astype(int))
    return window.iloc[take] if len(window) else window


def _monotonicity(
    score: FoldScore, cells: pd.DataFrame, columns: Sequence[str], dense_rows: int
) -> tuple[int, int]:
    """Violations and points of one fold's model (inputs ``columns``) on the dense grid,
    from up to ``dense_rows`` as-of rows of its test window (one grid cell's rows)."""
    if score.model is None:
        return 0, 0
    base = _dense_base(cells, score.test_start, score.test_end, dense_rows)
    if base.empty:
        return 0, 0
    found = monotonicity_violations(
        _predictor(score.model, list(columns)),
        base,
        DENSE_THRESHOLDS,
        DENSE_HORIZONS,
    )
    return found, len(base) * len(DENSE_THRESHOLDS) * len(DENSE_HORIZONS)


def _pct(value: Any) -> str:
    return f"{100.0 * float(value):+.1f}%"


def _interval(row: pd.Series) -> str:
    return f"{_pct(row['skill'])} [{_pct(row['skill_lower'])}, {_pct(row['skill_upper'])}]"


def _verdict(result: BacktestResult) -> str:
    """One sentence on the model against the best baseline's joint score."""
    row = result.joint_skill()
    text = f"{_pct(row['skill'])} [{_pct(row['skill_lower'])}, {_pct(row['skill_upper'])}]"
    best = result.best_baseline
    if row["skill_lower"] > 0:
        return (
            f"The model beats the best baseline ({best}): joint skill {text}, the whole "
            "interval above zero."
        )
    if row["skill"] > 0:
        return (
            f"The model is ahead of the best baseline ({best}), joint skill {text}, but the "
            "interval includes zero: not a reliable win."
        )
    return f"The model does NOT beat the best baseline ({best}): joint skill {text}."


def _joint_section(result: BacktestResult) -> list[str]:
    joint, best = result.joint, result.best_baseline
    overall = joint[joint["scope"] == "overall"].set_index("model")
    vs = result.joint_vs.set_index("baseline")
    grid = (
        "thresholds 1% to 50% in steps of one point"
        if result.spec.target == "drawdown"
        else "the detected support levels"
    )
    lines = [
        "## Joint surface score",
        "",
        f"Mean Brier score over {grid}, per (symbol, as-of, horizon), averaged (lower is "
        "better; for drawdowns it approximates the CRPS of the running minimum). Skill is "
        f"`1 - S_model / S_reference` with {result.level:.0%} intervals. Best baseline: "
        f"**{best}**.",
        "",
        "| forecast | joint score | skill of the model against it "
        "| skill against the best baseline |",
        "|---|---|---|---|",
    ]
    for name in overall.index:
        row = overall.loc[name]
        against = "" if name == MODEL else _interval(vs.loc[name]) if name in vs.index else ""
        lines.append(f"| {name} | {row['joint_score']:.5f} | {against} | {_interval(row)} |")
    per_h = joint[(joint["scope"] == "horizon") & (joint["model"] == MODEL)]
    lines += ["", "The model per horizon, against the best baseline:", ""]
    lines += ["| horizon | joint score | skill |", "|---|---|---|"]
    for h in per_h.to_dict("records"):
        lines.append(
            f"| {h['horizon_days']:g} d | {h['joint_score']:.5f} | "
            f"{_pct(h['skill'])} [{_pct(h['skill_lower'])}, {_pct(h['skill_upper'])}] |"
        )
    lines += ["", "## Verdict", "", _verdict(result), ""]
    return lines


def _diagnostics_section(result: BacktestResult) -> list[str]:
    lines = [
        "## Murphy decomposition",
        "",
        "Brier = miscalibration - discrimination + uncertainty (CORP: isotonic "
        "recalibration), on the rows of the joint score.",
        "",
        "| forecast | Brier | miscalibration | discrimination | uncertainty |",
        "|---|---|---|---|---|",
    ]
    for r in result.decomposition.itertuples(index=False):
        lines.append(
            f"| {r.model} | {r.brier:.5f} | {r.miscalibration:.5f} | "
            f"{r.discrimination:.5f} | {r.uncertainty:.5f} |"
        )
    included = result.mcs.loc[result.mcs["included"], "model"].tolist()
    lines += [
        "",
        "## Model confidence set",
        "",
        "Hansen-Lunde-Nason model confidence set of the daily joint losses at 90% "
        f"(`arch.bootstrap.MCS`, 30-day blocks): {', '.join(included)}.",
        "",
        "| forecast | MCS p-value |",
        "|---|---|",
    ]
    lines += [f"| {r.model} | {r.pvalue:.3f} |" for r in result.mcs.itertuples(index=False)]
    best = result.best_baseline
    q = result.quarters
    lines += [
        "",
        "## Calibration over time",
        "",
        "Per quarter: the realized event rate over all cells of the spec's grid, and the "
        f"mean forecast of the model and of {best}. A quarter is drawdown-heavy when its "
        "event rate is above the median quarter's.",
        "",
        f"| quarter | event rate | model | {best} | drawdown-heavy |",
        "|---|---|---|---|---|",
    ]
    for values in q.to_dict("records"):
        lines.append(
            f"| {values['quarter']} | {values['event_rate']:.3f} | {values[MODEL]:.3f} | "
            f"{values[best]:.3f} | {'yes' if values['heavy'] else ''} |"
        )
    track = float(np.corrcoef(q["event_rate"], q[MODEL])[0, 1]) if len(q) > 2 else float("nan")
    track_best = float(np.corrcoef(q["event_rate"], q[best])[0, 1]) if len(q) > 2 else float("nan")
    lines += [
        "",
        f"Correlation of the quarterly mean forecast with the realized rate: model "
        f"{track:.2f}, {best} {track_best:.2f}.",
        "",
        "## Regimes",
        "",
        "Joint score per volatility tercile of the as-of time and per period:",
        "",
    ]
    reg = result.regimes
    models = [c for c in reg.columns if c not in ("scope", "group", "n")]
    lines.append("| scope | group | n | " + " | ".join(models) + " |")
    lines.append("|" + "---|" * (3 + len(models)))
    for values in reg.to_dict("records"):
        lines.append(
            f"| {values['scope']} | {values['group']} | {values['n']:,} | "
            + " | ".join(f"{values[m]:.5f}" for m in models)
            + " |"
        )
    lines.append("")
    return lines


def _warning_section(result: BacktestResult) -> list[str]:
    w = result.warning
    if not w or "lift" not in w:
        return []
    return [
        "## Early warning",
        "",
        f"{w['episodes']} drawdowns of 15% or more (a low at least 15% below a close of the "
        "previous 14 days, one per sell-off) in the window. Over the as-of days that cover "
        "each (the 14 days up to it), the mean P(drawdown >= 15% within 14 days) was "
        f"{100 * w['mean_model']:.1f}% for the model and {100 * w['mean_reference']:.1f}% for "
        f"{w['reference']}: lift {w['lift']:.2f} [{w['lift_lower']:.2f}, {w['lift_upper']:.2f}]"
        " (bootstrap over episodes); the model was higher before "
        f"{100 * w['share_model_higher']:.0f}% of them. Over every as-of day of the window "
        "the same cell's mean forecasts are "
        f"{100 * w['all_model']:.1f}% and {100 * w['all_reference']:.1f}% (ratio "
        f"{w['all_model'] / w['all_reference']:.2f}): a lift above that ratio is warning "
        "specific to sell-offs, not a higher level everywhere.",
        "",
    ]


def summary_markdown(result: BacktestResult, *, command: str | None = None) -> str:
    """The Markdown summary of a backtest: the joint surface score of the model and
    every baseline, the verdict against the best baseline, the decomposition, model
    confidence set, calibration over time, regimes, early warning, the spec-grid skill
    per baseline, monotonicity and breakdowns."""
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
        f"{spec.embargo_days:g} day(s)); {len(preds):,} forecasts on the spec's grid, event "
        f"rate {preds['label'].mean():.3f}.",
        "- Every fold trains the model and fits every baseline only on what was known before "
        "its test window; the model uses the spec's fixed parameters (nothing is tuned on "
        "this window).",
        f"- Intervals: {result.level:.0%} circular block bootstrap over days (blocks as long "
        "as the horizon).",
    ]
    if command:
        lines += [f"- Reproduce: `{command}`"]
    lines += [""]
    lines += _joint_section(result)
    lines += _diagnostics_section(result)
    lines += _warning_section(result)
    header = "| horizon | n | event rate | Brier model | " + " | ".join(
        f"skill vs {b}" for b in baselines
    )
    lines += ["## Brier skill on the spec's grid", "", header + " |"]
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
    lines.append(
        "Full tables: `joint.csv`, `joint_vs.csv`, `losses.parquet`, `decomposition.csv`, "
        "`mcs.csv`, `quarters.csv`, `regimes.csv`, `episodes.csv`, `warning.json`, "
        "`metrics.csv`, `skill.csv`, `folds.csv`, `predictions.parquet`."
    )
    return "\n".join(lines) + "\n"


def write_backtest(
    result: BacktestResult, out_dir: Path, *, command: str | None = None
) -> list[Path]:
    """Write the backtest folder: ``summary.md``, the joint-score tables (``joint.csv``,
    ``joint_vs.csv``, ``losses.parquet``), ``decomposition.csv``, ``mcs.csv``,
    ``quarters.csv``, ``regimes.csv``, ``episodes.csv``, ``warning.json``,
    ``metrics.csv/json``, ``skill.csv/json``, ``folds.csv``, ``predictions.parquet`` and
    the PNG figures.

    Returns:
        The written paths.
    """
    written = write_backtest_report(
        out_dir, result.metrics, result.reliability, summary_markdown(result, command=command)
    )
    tables = {
        "skill.csv": result.skill,
        "folds.csv": result.folds,
        "joint.csv": result.joint,
        "joint_vs.csv": result.joint_vs,
        "decomposition.csv": result.decomposition,
        "mcs.csv": result.mcs,
        "quarters.csv": result.quarters,
        "regimes.csv": result.regimes,
        "episodes.csv": result.episodes,
    }
    for name, table in tables.items():
        table.to_csv(out_dir / name, index=False)
        written.append(out_dir / name)
    skill_json = out_dir / "skill.json"
    skill_json.write_text(result.skill.to_json(orient="records", indent=2) + "\n")
    warning = out_dir / "warning.json"
    warning.write_text(json.dumps(result.warning, indent=2, default=str) + "\n")
    preds = out_dir / "predictions.parquet"
    result.predictions.to_parquet(preds, index=False)
    losses = out_dir / "losses.parquet"
    result.losses.to_parquet(losses, index=False)
    horizon_skill = result.skill[result.skill["scope"] == "horizon"]
    written += [
        skill_json,
        warning,
        preds,
        losses,
        skill_chart(horizon_skill, out_dir / "skill_by_horizon.png"),
        fold_chart(result.folds, out_dir / "brier_by_fold.png"),
    ]
    return written
