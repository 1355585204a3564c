"""Backtest folds partitioned by symbol: no process holds every symbol's rows.

A fold of :func:`~downside.workflows.run_backtest` normally runs as one task that builds
the rows of every symbol (its memory grows with the universe). For a spec with ``[model]
distributed = true`` on a Dask cluster, each fold instead runs as rounds of tasks over
partitions of :data:`PARTITION_SYMBOLS` symbols:

1. **training rows**: each partition builds its rows on a worker, keeps the rows that
   the fold's :class:`~downside.datasets.TrainRule` selects there (as LightGBM's
   inputs), and hands back only what the pooled baselines fit on: the frame's columns
   without features, its HAR regression rows and its fine-grid climatology counts;
2. **fits**: one booster trained across the partitions by LightGBM's
   ``DaskLGBMClassifier`` (:func:`~downside.models._distributed.fit_dask`); in the
   client, the baselines pooled over symbols (climatology, the GBMs, the volatility
   logistic, EWMA FHS, HAR) on those narrow columns, in the order of the local backtest;
3. **scoring**: each partition of scored symbols builds its test rows and their
   fine-grid rows, fits GJR-GARCH on its own symbols' returns, and predicts the model
   and every baseline.

The client reads the rows without features one partition at a time for the fold
boundaries and test keys (``workflows._backtest._partitioned_keys``) and holds the
narrow training columns (for the pooled baselines) and the out-of-sample predictions,
never a feature of a training row; a worker holds
its partitions' training matrices and one partition's rows at a time. The baselines
equal the local backtest's (up to the order of floating-point sums); the model is
LightGBM's data-parallel booster, close to but not identical with the local one (see
:mod:`downside.models._distributed`), so the model's scores differ slightly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from downside.datasets import Fold, Frame, TrainRule, build_frame
from downside.evaluation import brier_score, log_loss
from downside.features import FeatureStore
from downside.models import Climatology, FoldScore, ModelSpec, daily_rows, make_model
from downside.models._distributed import TrainingPart, check_distributed, fit_dask, training_part
from downside.vocabulary import to_us
from downside.workflows._baselines import FoldBaselines, VolatilityHistory
from downside.workflows._engine import DaskEngine, FeatureStoreRef
from downside.workflows._scoring import fine_rows

PARTITION_SYMBOLS = 8
"""Symbols per partition: a worker builds one partition's rows at a time."""

KEYS = ["symbol", "asof"]


def partitions(symbols: Sequence[str], size: int | None = None) -> list[tuple[str, ...]]:
    """``symbols`` in consecutive groups of ``size`` (default
    :data:`PARTITION_SYMBOLS`), in sorted order."""
    size = size or PARTITION_SYMBOLS
    ordered = sorted(dict.fromkeys(symbols))
    return [tuple(ordered[i : i + size]) for i in range(0, len(ordered), size)]


def _narrow(data: Frame) -> list[str]:
    """The frame's columns without features: keys, query, volatility inputs, labels."""
    features = set(data.feature_columns)
    return [c for c in data.columns if c not in features]


@dataclass
class _TrainingSide:
    """What one partition keeps for a fold (the training part) and hands back (the
    rest)."""

    part: TrainingPart
    narrow: pd.DataFrame
    har_keys: pd.DataFrame
    har_inputs: np.ndarray
    har_targets: np.ndarray
    fine: Climatology | None


def _part(side: _TrainingSide) -> TrainingPart:
    return side.part


def _handed_back(side: _TrainingSide) -> tuple[Any, ...]:
    return side.narrow, side.har_keys, side.har_inputs, side.har_targets, side.fine


@dataclass(frozen=True)
class _FoldTraining:
    """Round 1 on a worker: a partition's training rows of one fold."""

    spec: ModelSpec
    store: FeatureStoreRef
    params: Mapping[str, Any] | None
    rule: TrainRule
    test_start: pd.Timestamp

    def __call__(self, symbols: tuple[str, ...]) -> _TrainingSide:
        from downside.workflows._backtest import _fine_history

        feature_store = self.store.open()
        data = build_frame(self.spec.frame, feature_store, symbols=list(symbols))
        labelled = data.labelled
        keep = self.rule.mask(to_us(labelled["asof"]), to_us(labelled["label_end"]))
        train = labelled[keep]
        model = make_model(self.spec, self.params)
        part = training_part(model, train[list(data.input_columns)], train["label"].to_numpy())
        baselines = FoldBaselines(self.spec, VolatilityHistory.of(feature_store, symbols))
        keys = daily_rows(self.spec, train)[KEYS].drop_duplicates().reset_index(drop=True)
        inputs, targets = baselines.har_rows(keys, self.test_start)
        fine = None
        if self.spec.target == "drawdown":
            history = _fine_history(self.spec, feature_store, symbols)
            before = history[history["label_end"] < self.test_start]
            if len(before):
                fine = Climatology().fit(before, before["label"].to_numpy())
        return _TrainingSide(
            part, train[_narrow(data)].reset_index(drop=True), keys, inputs, targets, fine
        )


@dataclass(frozen=True)
class _FoldScoring:
    """Round 3 on a worker: a partition's test rows of one fold, predicted by the model
    and every baseline."""

    spec: ModelSpec
    store: FeatureStoreRef
    index: int
    test_start: pd.Timestamp

    def __call__(
        self, keys: pd.DataFrame, model: Any, pooled: FoldBaselines
    ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        from downside.workflows._backtest import _fallback

        feature_store = self.store.open()
        symbols = sorted(set(keys["symbol"]))
        data = build_frame(self.spec.frame, feature_store, asof=keys)
        test = data.labelled
        cols = list(data.input_columns)
        kept = ["symbol", "asof", "horizon_days", "label", "label_end", "sigma_daily"]
        kept += (
            ["threshold"]
            if self.spec.target == "drawdown"
            else ["level", "level_type", "distance_vol"]
        )
        coarse = test[kept].copy()
        coarse["p_model"] = model.predict_proba(test[cols])[:, 1]
        coarse["fold"] = self.index
        baselines = FoldBaselines(self.spec, VolatilityHistory.of(feature_store, symbols))
        baselines.fitted = dict(pooled.fitted)
        baselines.fine_climatology = pooled.fine_climatology
        baselines.fit_garch(self.test_start)
        predicted = baselines.predict(test)
        for name, p in predicted.items():
            coarse[f"p_{name}"] = _fallback(name, p, predicted)
        if self.spec.target != "drawdown":
            return coarse, None
        rows = fine_rows(self.spec, feature_store, test, data.feature_columns)
        fine = rows[["symbol", "asof", "threshold", "horizon_days", "label", "sigma_daily"]].copy()
        fine["p_model"] = model.predict_proba(rows[cols])[:, 1]
        predicted = baselines.predict(rows, fine=True)
        for name, p in predicted.items():
            fine[f"p_{name}"] = _fallback(name, p, predicted)
        return coarse, fine


def _in_key_order(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Partition frames (each in as-of, symbol, grid order) as one frame in that order
    (a stable sort keeps the grid order within each key)."""
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["asof", "symbol"], kind="stable").reset_index(drop=True)


@dataclass
class PartitionedFold:
    """One fold's results from the partitions: what :func:`run_partitioned_fold`
    returns."""

    score: FoldScore
    coarse: pd.DataFrame
    fine: pd.DataFrame | None


def run_partitioned_fold(
    spec: ModelSpec,
    feature_store: FeatureStore,
    engine: DaskEngine,
    fold: Fold,
    test_keys: pd.DataFrame,
    params: Mapping[str, Any] | None,
) -> PartitionedFold:
    """Run one fold over partitions of symbols on the cluster (see the module).

    Args:
        spec: the spec (``distributed = true``; a base and calibration a partition can
            compute alone).
        feature_store: the store (opened by folder on the workers).
        engine: the cluster.
        fold: the fold (its :class:`~downside.datasets.TrainRule` selects the training
            rows of every partition).
        test_keys: the ``symbol, asof`` keys of the fold's test rows (scored symbols).
        params: model parameters over the spec's.

    Raises:
        ModelSpecError: the spec's model cannot be trained from partitions.
        ModelInputError: no training row, or a single class.
    """
    if fold.rule is None:
        raise ValueError("a partitioned fold needs the fold's TrainRule")
    check_distributed(make_model(spec, params))
    client = engine.client
    ref = FeatureStoreRef.of(feature_store)
    symbols = (*spec.frame.symbols, *spec.frame.pool_symbols)
    task = _FoldTraining(spec, ref, params, fold.rule, fold.test_start)
    sides = engine.persist(task, partitions(symbols), label=f"fold{fold.index}-training")
    try:
        parts = client.map(_part, sides, pure=False)
        model = fit_dask(make_model(spec, params), client, parts)
        handed = client.gather(client.map(_handed_back, sides, pure=False))
    finally:
        for future in sides:
            future.release()
    narrow = _in_key_order([h[0] for h in handed])
    pooled = FoldBaselines(spec, VolatilityHistory({}, {}))
    pooled.fit(narrow, fold.test_start, per_symbol=False)
    har_keys = pd.concat([h[1] for h in handed], ignore_index=True)
    order = np.lexsort((har_keys["symbol"].to_numpy(dtype=str), to_us(har_keys["asof"])))
    pooled.fit_har(
        np.concatenate([h[2] for h in handed])[order],
        np.concatenate([h[3] for h in handed])[order],
    )
    fines = [h[4] for h in handed if h[4] is not None]
    if fines:
        pooled.fine_climatology = Climatology.merged(fines)
    n_train = len(narrow)
    del narrow, handed
    scoring = _FoldScoring(spec, ref, fold.index, fold.test_start)
    groups = [
        test_keys[test_keys["symbol"].isin(p)].reset_index(drop=True)
        for p in partitions(list(test_keys["symbol"].unique()))
    ]
    [model_f, pooled_f] = client.scatter([model, pooled], broadcast=True)
    futures = client.map(
        scoring, groups, model=model_f, pooled=pooled_f, pure=False, retries=engine.retries
    )
    try:
        results = client.gather(futures)
    finally:
        for future in (*futures, model_f, pooled_f):
            future.release()
    coarse = _in_key_order([r[0] for r in results])
    fine = (
        _in_key_order([r[1] for r in results if r[1] is not None])
        if spec.target == "drawdown"
        else None
    )
    y = coarse["label"].to_numpy()
    p = coarse["p_model"].to_numpy()
    score = FoldScore(
        index=int(fold.index),
        test_start=pd.Timestamp(fold.test_start),
        test_end=pd.Timestamp(fold.test_end),
        n_train=n_train,
        n_test=len(coarse),
        log_loss=float(log_loss(p, y)),
        brier=float(brier_score(p, y)),
        predictions=coarse,
        model=model,
    )
    return PartitionedFold(score, coarse, fine)
