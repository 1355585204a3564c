"""Where models are fitted: purged walk-forward folds scored out of sample, and the final
fit on every labelled row. Rows come from :func:`downside.datasets.build_frame`; tuning,
``fit_spec`` and the backtest all call these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from downside.datasets import Frame, WalkForward
from downside.errors import InsufficientHistoryError
from downside.evaluation import brier_score, log_loss
from downside.models._baselines import Climatology, GBMFirstPassage, VolLogistic
from downside.models._spec import ModelSpec
from downside.models._surface import DrawdownSurface, SupportBreakModel

BASELINES = ("climatology", "gbm_ewma", "gbm_parkinson", "vol_logistic")


@dataclass(frozen=True)
class FoldScore:
    """Out-of-sample scores of one walk-forward fold."""

    index: int
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    n_train: int
    n_test: int
    log_loss: float
    brier: float
    predictions: pd.DataFrame = field(repr=False)
    model: DrawdownSurface | SupportBreakModel | None = field(default=None, repr=False)
    """The fold's fitted model, kept only when asked (``keep_model=True``)."""

    @property
    def key(self) -> str:
        """Identifies the fold's test window, so two models can be compared on the same folds."""
        return f"{self.test_start:%Y-%m-%d}/{self.test_end:%Y-%m-%d}"


def make_model(
    spec: ModelSpec, params: Mapping[str, Any] | None = None
) -> DrawdownSurface | SupportBreakModel:
    """The spec's estimator with its fixed parameters, overridden by ``params``."""
    merged = {**spec.model_params, **(params or {})}
    if spec.target == "drawdown":
        return DrawdownSurface(**merged)
    return SupportBreakModel(**merged)


def folds(
    spec: ModelSpec,
    data: Frame | pd.DataFrame,
    *,
    start: str | None = None,
    end: str | None = None,
) -> Iterator[Any]:
    """Purged, embargoed walk-forward folds over a frame's labelled rows, or over rows
    with ``asof`` and ``label_end`` columns (positional indices into those rows)."""
    labelled = data.labelled if isinstance(data, Frame) else data
    wf = WalkForward(
        scheme=spec.scheme,
        train_days=spec.train_days,
        test_days=spec.test_days,
        embargo_days=spec.embargo_days,
        min_train_days=spec.min_train_days,
        start=start,
        end=end,
    )
    return wf.split(labelled["asof"], labelled["label_end"])


def daily_rows(spec: ModelSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows at daily as-of times (00:00 UTC): all of them unless the spec trains on
    intraday as-of times too (``[data] train_hours``), whose extra rows only train the
    model; tests and baselines stay those of the daily spec, like for like."""
    if spec.frame.train_hours == (0,):
        return rows
    asof = rows["asof"]
    daily: pd.DataFrame = rows[(asof == asof.dt.floor("D")).to_numpy()]
    return daily


def test_rows(spec: ModelSpec, data: Frame, fold: Any) -> pd.DataFrame:
    """The fold's labelled test rows of the scored symbols (rows of pooled symbols only
    train) at daily as-of times (intraday rows only train, see :func:`daily_rows`)."""
    test: pd.DataFrame = data.labelled.iloc[fold.test_idx]
    if spec.frame.pool_symbols:
        test = test[test["symbol"].isin(spec.frame.symbols)]
    return daily_rows(spec, test)


def score_fold(
    spec: ModelSpec,
    data: Frame,
    fold: Any,
    params: Mapping[str, Any] | None = None,
    *,
    baselines: bool = False,
    keep_model: bool = False,
) -> FoldScore:
    """Fit on the fold's training rows, score its test rows out of sample."""
    labelled = data.labelled
    train = labelled.iloc[fold.train_idx]
    test = test_rows(spec, data, fold)
    cols = list(data.input_columns)
    model = make_model(spec, params)
    model.fit(
        train[cols], train["label"].to_numpy(), times=train["asof"], label_end=train["label_end"]
    )
    p = model.predict_proba(test[cols])[:, 1]
    y = test["label"].to_numpy()
    keep = ["symbol", "asof", "horizon_days", "label", "label_end", "sigma_daily"]
    keep += ["threshold"] if spec.target == "drawdown" else ["level", "level_type", "distance_vol"]
    pred = test[keep].copy()
    pred["p_model"] = p
    pred["fold"] = fold.index
    if baselines:
        for name, probs in baseline_probabilities(spec, daily_rows(spec, train), test).items():
            pred[f"p_{name}"] = probs
    return FoldScore(
        index=int(fold.index),
        test_start=pd.Timestamp(fold.test_start),
        test_end=pd.Timestamp(fold.test_end),
        n_train=len(train),
        n_test=len(test),
        log_loss=float(log_loss(p, y)),
        brier=float(brier_score(p, y)),
        predictions=pred,
        model=model if keep_model else None,
    )


def baseline_probabilities(
    spec: ModelSpec, train: pd.DataFrame, test: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Out-of-sample probabilities of every baseline, fitted on ``train`` only."""
    y = train["label"].to_numpy()
    out: dict[str, np.ndarray] = {}
    clim = Climatology().fit(train, y)
    out["climatology"] = clim.predict_proba(test)[:, 1]
    out["gbm_ewma"] = GBMFirstPassage(vol="ewma").fit(train, y).predict_proba(test)[:, 1]
    if "sigma_parkinson" in test.columns:
        out["gbm_parkinson"] = (
            GBMFirstPassage(vol="parkinson").fit(train, y).predict_proba(test)[:, 1]
        )
    out["vol_logistic"] = VolLogistic().fit(train, y).predict_proba(test)[:, 1]
    return out


def walk_forward(
    spec: ModelSpec,
    data: Frame,
    params: Mapping[str, Any] | None = None,
    *,
    last: int | None = None,
    start: str | None = None,
    end: str | None = None,
    baselines: bool = False,
    keep_models: bool = False,
    on_fold: Callable[[FoldScore], None] | None = None,
) -> list[FoldScore]:
    """Score every fold (or the ``last`` n) in time order; ``on_fold`` sees each score
    as it arrives (tuning uses it to report and prune)."""
    all_folds = list(folds(spec, data, start=start, end=end))
    if last is not None:
        all_folds = all_folds[-last:]
    if not all_folds:
        raise InsufficientHistoryError(
            f"no walk-forward folds for spec {spec.name!r}: the labelled history is shorter "
            f"than min_train_days={spec.min_train_days} + test_days={spec.test_days}; "
            "ingest more history or lower walk_forward.min_train_days"
        )
    scores = []
    for fold in all_folds:
        score = score_fold(spec, data, fold, params, baselines=baselines, keep_model=keep_models)
        scores.append(score)
        if on_fold is not None:
            on_fold(score)
    return scores


def fit_final(
    spec: ModelSpec, data: Frame, params: Mapping[str, Any] | None = None
) -> DrawdownSurface | SupportBreakModel:
    """Fit on every labelled row."""
    labelled = data.labelled
    cols = list(data.input_columns)
    model = make_model(spec, params)
    return model.fit(
        labelled[cols],
        labelled["label"].to_numpy(),
        times=labelled["asof"],
        label_end=labelled["label_end"],
    )
