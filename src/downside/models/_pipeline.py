"""Training pipeline: assemble frames from the store, score purged walk-forward folds,
fit the final model. The CLI, the API, tuning and the backtest all call these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from downside.datasets import WalkForward, drawdown_frame, support_frame
from downside.errors import EmptyStoreError, ModelSpecError, Problem
from downside.evaluation import brier_score, log_loss
from downside.features import FeatureStore
from downside.models._baselines import Climatology, GBMFirstPassage, VolLogistic
from downside.models._spec import ModelSpec
from downside.models._surface import DrawdownSurface, SupportBreakModel
from downside.targets import BreakRule

DRAWDOWN_QUERY = ("threshold", "horizon_days", "z_distance", "sigma_daily")
SUPPORT_QUERY = (
    "horizon_days",
    "distance_pct",
    "distance_vol",
    "z_distance",
    "touches",
    "age_days",
    "level_type",
    "sigma_daily",
)
BASELINES = ("climatology", "gbm_ewma", "gbm_parkinson", "vol_logistic")


@dataclass(frozen=True)
class TrainingData:
    """A stacked frame ready for fitting and its column roles.

    Attributes:
        frame: one row per (symbol, asof, threshold|level, horizon), sorted by asof;
            rows whose label is not yet known have ``label`` NaN.
        input_columns: the model's inputs (query columns, then features).
        feature_columns: the feature-store columns among them.
        families: driver family of every input column.
    """

    spec: ModelSpec
    frame: pd.DataFrame
    input_columns: tuple[str, ...]
    feature_columns: tuple[str, ...]
    families: Mapping[str, str]

    @property
    def labelled(self) -> pd.DataFrame:
        return self.frame[self.frame["label"].notna()]


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


def select_features(spec: ModelSpec, feature_store: FeatureStore) -> list[str]:
    """Feature names of the spec's families, plus ``include``, minus ``exclude``.

    Raises:
        ModelSpecError: an included or excluded name is not a known feature.
    """
    families = feature_store.families()
    unknown = [n for n in (*spec.include, *spec.exclude) if n not in families]
    if unknown:
        raise ModelSpecError(
            [
                Problem(
                    str(spec.path or spec.name),
                    "unknown_feature",
                    len(unknown),
                    "features.include/exclude name features that do not exist; "
                    "see `downside features list`",
                    examples=unknown,
                )
            ]
        )
    names = [n for n, fam in families.items() if fam in spec.families or n in spec.include]
    return [n for n in names if n not in spec.exclude]


WARMUP_DAYS = 30
"""Days of price history before the first as-of time, so volatility is defined."""


def daily_prices(feature_store: FeatureStore, symbols: Sequence[str]) -> pd.DataFrame:
    """Venue-stitched daily bars of ``symbols`` under the feature store's venue preference."""
    return feature_store.store.prices("1d", feature_store.daily_venues, list(symbols))


def daily_spine(
    feature_store: FeatureStore,
    symbols: Sequence[str],
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Daily as-of times (00:00 UTC) per symbol, from ``WARMUP_DAYS`` after its first
    known bar to the latest time its newest bar is known.

    Raises:
        EmptyStoreError: a symbol has no daily prices in the range.
    """
    prices = daily_prices(feature_store, symbols)
    frames = []
    for symbol in symbols:
        known = prices.loc[prices["symbol"] == symbol, "available_ts"]
        if known.empty:
            raise EmptyStoreError(
                f"no daily prices for {symbol} at venues {list(feature_store.daily_venues)}; "
                "ingest its bars first (`downside ingest files DIR`)"
            )
        first = known.min().ceil("D") + pd.Timedelta(days=WARMUP_DAYS)
        last = feature_store.latest_asof(symbol)
        lo = max(first, _utc(start)) if start is not None else first
        hi = min(last, _utc(end)) if end is not None else last
        if hi < lo:
            raise EmptyStoreError(
                f"no as-of times for {symbol} between {start} and {end}: as-of times with "
                f"{WARMUP_DAYS} days of history run from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
            )
        asof = pd.date_range(lo.ceil("D"), hi, freq="D", unit="us")
        frames.append(pd.DataFrame({"symbol": symbol, "asof": asof}))
    return pd.concat(frames, ignore_index=True)


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def assemble(
    spec: ModelSpec,
    feature_store: FeatureStore,
    *,
    spine: pd.DataFrame | None = None,
    levels: pd.DataFrame | None = None,
    thresholds: Sequence[float] | None = None,
    horizons_days: Sequence[float] | None = None,
) -> TrainingData:
    """Build the stacked frame of a spec from the store (labels where already known).

    Args:
        spec: the model spec.
        feature_store: point-in-time features and stitched prices.
        spine: ``symbol, asof`` rows; default every day of the spec's symbols and range.
        levels: support targets only: user levels ``symbol, asof, level``; default
            auto-detected supports.
        thresholds: override the spec's thresholds (prediction on other grids).
        horizons_days: override the spec's horizons.
    """
    if spine is None:
        spine = daily_spine(feature_store, spec.symbols, start=spec.start, end=spec.end)
    names = select_features(spec, feature_store)
    features = feature_store.get_features(spine, names)
    prices = daily_prices(feature_store, sorted(spine["symbol"].unique()))
    horizons = list(horizons_days or spec.horizons_days)
    if spec.target == "drawdown":
        frame = drawdown_frame(features, prices, list(thresholds or spec.thresholds), horizons)
        query: tuple[str, ...] = DRAWDOWN_QUERY
    else:
        rule = BreakRule(kind=spec.break_rule, buffer=spec.break_buffer)
        frame = support_frame(features, prices, levels, horizons, rule)
        query = SUPPORT_QUERY
    frame = frame.sort_values(["asof", "symbol"], kind="stable").reset_index(drop=True)
    families = dict(feature_store.families())
    fam = {c: families.get(c, "technical") for c in (*query, *names)}
    for c in ("threshold", "horizon_days"):
        if c in fam:
            fam[c] = "query"
    return TrainingData(spec, frame, (*query, *names), tuple(names), fam)


def make_model(
    spec: ModelSpec, params: Mapping[str, Any] | None = None
) -> DrawdownSurface | SupportBreakModel:
    """The spec's estimator with its fixed parameters, overridden by ``params``."""
    merged = {**spec.model_params, **(params or {})}
    if spec.target == "drawdown":
        return DrawdownSurface(**merged)
    return SupportBreakModel(**merged)


def folds(
    spec: ModelSpec, data: TrainingData, *, start: str | None = None, end: str | None = None
) -> Iterator[Any]:
    """Purged, embargoed walk-forward folds over the labelled rows (positional indices)."""
    labelled = data.labelled
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


def score_fold(
    spec: ModelSpec,
    data: TrainingData,
    fold: Any,
    params: Mapping[str, Any] | None = None,
    *,
    baselines: bool = False,
    keep_model: bool = False,
) -> FoldScore:
    """Fit on the fold's training rows, score its test rows out of sample."""
    labelled = data.labelled
    train = labelled.iloc[fold.train_idx]
    test = labelled.iloc[fold.test_idx]
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
        for name, probs in baseline_probabilities(spec, train, test).items():
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
    data: TrainingData,
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
        raise EmptyStoreError(
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
    spec: ModelSpec, data: TrainingData, params: Mapping[str, Any] | None = None
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
