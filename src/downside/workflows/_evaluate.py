"""The track record: matured ledger forecasts scored against what happened, and replays.

:func:`evaluate_ledger` takes every ledger record whose horizon has passed (its label is
known), labels it exactly as training rows are labelled (the frame builder on the same
venue-stitched daily bars: :func:`downside.targets.drawdown_labels` and
:func:`~downside.targets.support_break_labels` with the model's break rule), and scores
it against the backtest's eight baselines (:mod:`downside.workflows._baselines`), refitted
point in time every ``block_days`` of as-of days on what was labelled before each
block, as a backtest refits per fold. Reported per target, per model version and over
all versions (``model_version = "all"``):

- Brier score, log loss and ECE of the model and every baseline;
- the joint surface score (:func:`downside.workflows._scoring.joint_losses`: the mean
  Brier over the recorded cells of each symbol, as-of time and horizon; over the
  spec's thresholds here, where the backtest uses a fine 1%-50% grid) and the model's
  skill against the best baseline, with a circular block-bootstrap interval over days
  (blocks as long as the longest horizon, at most a quarter of the days scored, so a
  short window still has blocks to resample);
- reliability of the model;
- rolling over time: every ``step_days``, the joint skill against the best baseline
  (with its interval) and the ECE over the last ``window_days`` of as-of days.

:func:`replay_rows` fills the ledger with what a model would have said on past days,
strictly point in time: each day's features are those known at that day, and the model
must have been trained on data known before the first replayed day (else
:class:`~downside.errors.LookAheadError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from downside.datasets import build_frame
from downside.errors import LookAheadError
from downside.evaluation import (
    brier_score,
    expected_calibration_error,
    log_loss,
    reliability_table,
)
from downside.features import FeatureStore
from downside.models import ModelSpec
from downside.vocabulary import to_us, utc, utc_day
from downside.workflows._baselines import BASELINE_NAMES, FoldBaselines, VolatilityHistory
from downside.workflows._ledger import LedgerModel, ledger_rows
from downside.workflows._scoring import best_reference, joint_losses, skill_interval

MODEL = "model"
"""Name of the recorded forecasts in the score tables (baselines keep their names)."""

ALL_VERSIONS = "all"
"""``model_version`` of the rows that pool every version of a model: per cell and as-of
time the record issued first (what was said first, when a replay of another version
covers the same days)."""

SCORE_COLUMNS = (
    "target",
    "model_version",
    "forecast",
    "n",
    "days",
    "brier",
    "log_loss",
    "ece",
    "joint_score",
    "joint_skill",
)
SUMMARY_COLUMNS = (
    "target",
    "model_version",
    "n",
    "days",
    "first_asof",
    "last_asof",
    "event_rate",
    "mean_forecast",
    "brier",
    "ece",
    "best_baseline",
    "skill",
    "skill_lower",
    "skill_upper",
)
ROLLING_COLUMNS = (
    "target",
    "date",
    "days",
    "n",
    "event_rate",
    "mean_forecast",
    "reference",
    "skill",
    "skill_lower",
    "skill_upper",
    "ece",
)


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate_ledger` measured.

    Attributes:
        rows: the matured records with ``label``, ``label_end`` and ``p_<baseline>``.
        scores: per target, version (and ``all``) and forecast (the model and each
            baseline): :data:`SCORE_COLUMNS`; ``joint_skill`` is the model's skill
            against that forecast (``1 - S_model / S_forecast``).
        summary: per target and version: :data:`SUMMARY_COLUMNS`, the model's joint
            skill against the best baseline with its interval.
        rolling: per target, every ``step_days``: :data:`ROLLING_COLUMNS` over the
            trailing ``window_days`` (all versions pooled).
        reliability: per target, the model's reliability table (all versions).
        pending: records whose outcome is not known yet.
        level: coverage of the intervals.
        window_days: length of the rolling window.
    """

    rows: pd.DataFrame
    scores: pd.DataFrame
    summary: pd.DataFrame
    rolling: pd.DataFrame
    reliability: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    pending: int = 0
    level: float = 0.9
    window_days: int = 30

    @property
    def empty(self) -> bool:
        """Whether no record has matured yet."""
        return self.rows.empty


def _labelled(part: pd.DataFrame, spec: ModelSpec, feature_store: FeatureStore) -> pd.DataFrame:
    """The records of one target with their labels and the baselines' inputs, built by
    the frame builder exactly as training rows (records whose label is unknown keep
    NaN)."""
    keys = part[["symbol", "asof"]].drop_duplicates().reset_index(drop=True)
    horizons = sorted(set(part["horizon_days"].astype(float)))
    if spec.target == "drawdown":
        cell = "threshold"
        built = build_frame(
            spec.frame,
            feature_store,
            asof=keys,
            thresholds=sorted(set(part["threshold"].astype(float))),
            horizons_days=horizons,
            features=[],
        ).frame
    else:
        cell = "level"
        levels = part[["symbol", "asof", "level"]].drop_duplicates().reset_index(drop=True)
        built = build_frame(
            spec.frame,
            feature_store,
            asof=keys,
            horizons_days=horizons,
            levels=levels,
            features=[],
        ).frame
        built = built.drop(columns=["level_type"])
    drop = [c for c in ("ref_close",) if c in built.columns]
    other = ["level", "level_type"] if cell == "threshold" else ["threshold"]
    part = part.drop(columns=other)
    return part.merge(
        built.drop(columns=drop), on=["symbol", "asof", cell, "horizon_days"], how="left"
    )


def _fallback(name: str, p: np.ndarray, predicted: Mapping[str, np.ndarray]) -> np.ndarray:
    """Rows a time-series baseline cannot forecast take the Parkinson GBM's probability
    (as in the backtest)."""
    if np.isnan(p).any() and "gbm_parkinson" in predicted:
        return np.where(np.isnan(p), predicted["gbm_parkinson"], p)
    return p


def _baselines(
    rows: pd.DataFrame,
    spec: ModelSpec,
    feature_store: FeatureStore,
    history: VolatilityHistory,
    block_days: int,
) -> pd.DataFrame:
    """Every baseline's probability on the rows, fitted per block of as-of days on the
    rows labelled before the block."""
    out = rows.copy()
    for name in BASELINE_NAMES:
        out[f"p_{name}"] = np.nan
    train_all = build_frame(spec.frame, feature_store, features=[]).labelled
    days = pd.DatetimeIndex(sorted(out["asof"].unique()))
    if not len(days):
        return out
    start = days[0]
    asof_us = to_us(out["asof"])
    while start <= days[-1]:
        stop = start + pd.Timedelta(days=block_days)
        in_block = (asof_us >= to_us(pd.Series([start]))[0]) & (
            asof_us < to_us(pd.Series([stop]))[0]
        )
        if in_block.any():
            train = train_all[train_all["label_end"] < start]
            if len(train) and train["label"].nunique() == 2:
                fitted = FoldBaselines(spec, history).fit(train, pd.Timestamp(start))
                predicted = fitted.predict(out.loc[in_block])
                for name, p in predicted.items():
                    out.loc[in_block, f"p_{name}"] = _fallback(name, p, predicted)
        start = stop
    return out


def _scores(
    rows: pd.DataFrame,
    target: str,
    version: str,
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[list[dict[str, object]], dict[str, object], pd.DataFrame, str]:
    """Score rows, the summary row, the joint losses and the best baseline."""
    names = [MODEL, *[b for b in BASELINE_NAMES if rows[f"p_{b}"].notna().all()]]
    frame = (
        rows.drop(columns=["model"])
        .rename(columns={"probability": MODEL})
        .rename(columns={f"p_{b}": b for b in BASELINE_NAMES})
    )
    y = frame["label"].to_numpy(dtype=np.float64)
    losses = joint_losses(frame, names)
    baselines = names[1:]
    best = best_reference(losses, baselines) if baselines else ""
    days = int(frame["asof"].nunique())
    block = max(1, min(int(np.ceil(frame["horizon_days"].max())), days // 4))
    joint_model = float(losses[MODEL].mean())
    out: list[dict[str, object]] = []
    for name in names:
        p = frame[name].to_numpy(dtype=np.float64)
        joint = float(losses[name].mean())
        out.append(
            {
                "target": target,
                "model_version": version,
                "forecast": name,
                "n": len(y),
                "days": days,
                "brier": brier_score(p, y),
                "log_loss": log_loss(p, y),
                "ece": expected_calibration_error(p, y),
                "joint_score": joint,
                "joint_skill": float("nan") if name == MODEL else 1.0 - joint_model / joint,
            }
        )
    skill = lower = upper = float("nan")
    if best:
        skill, lower, upper = skill_interval(
            losses, MODEL, best, block_days=block, n_boot=n_boot, level=level, seed=seed
        )
    p = frame[MODEL].to_numpy(dtype=np.float64)
    summary = {
        "target": target,
        "model_version": version,
        "n": len(y),
        "days": days,
        "first_asof": frame["asof"].min(),
        "last_asof": frame["asof"].max(),
        "event_rate": float(y.mean()),
        "mean_forecast": float(p.mean()),
        "brier": brier_score(p, y),
        "ece": expected_calibration_error(p, y),
        "best_baseline": best,
        "skill": skill,
        "skill_lower": lower,
        "skill_upper": upper,
    }
    return out, summary, losses, best


def _rolling(
    rows: pd.DataFrame,
    losses: pd.DataFrame,
    target: str,
    best: str,
    *,
    window_days: int,
    step_days: int,
    n_boot: int,
    level: float,
    seed: int,
) -> list[dict[str, object]]:
    """Joint skill against ``best`` and ECE over trailing windows of as-of days."""
    if not best:
        return []
    dates = pd.DatetimeIndex(sorted(rows["asof"].unique()))
    ends = list(dates[::step_days])
    if dates[-1] not in ends:
        ends.append(dates[-1])
    min_days = max(2, window_days // 3)
    out: list[dict[str, object]] = []
    horizon = int(np.ceil(rows["horizon_days"].max()))
    for end in ends:
        first = end - pd.Timedelta(days=window_days)
        window = rows[(rows["asof"] > first) & (rows["asof"] <= end)]
        part = losses[(losses["asof"] > first) & (losses["asof"] <= end)]
        days = int(window["asof"].nunique())
        if days < min_days:
            continue
        skill, lower, upper = skill_interval(
            part,
            MODEL,
            best,
            block_days=max(1, min(horizon, days // 4)),
            n_boot=n_boot,
            level=level,
            seed=seed,
        )
        y = window["label"].to_numpy(dtype=np.float64)
        p = window["probability"].to_numpy(dtype=np.float64)
        out.append(
            {
                "target": target,
                "date": end,
                "days": days,
                "n": len(y),
                "event_rate": float(y.mean()),
                "mean_forecast": float(p.mean()),
                "reference": best,
                "skill": skill,
                "skill_lower": lower,
                "skill_upper": upper,
                "ece": expected_calibration_error(p, y),
            }
        )
    return out


def evaluate_ledger(
    ledger: pd.DataFrame,
    feature_store: FeatureStore,
    specs: Mapping[str, ModelSpec],
    *,
    n_boot: int = 500,
    level: float = 0.9,
    seed: int = 0,
    window_days: int = 30,
    step_days: int = 7,
    block_days: int | None = None,
) -> Evaluation:
    """Score every matured ledger record against realized outcomes and the baselines.

    Args:
        ledger: records (:func:`downside.workflows.read_ledger`).
        feature_store: the store's prices and volatility inputs.
        specs: the model spec per target (its frame, break rule and walk-forward); a
            target without a spec is left out.
        n_boot: bootstrap replicates per interval.
        level: coverage of the intervals.
        seed: seed of the bootstrap.
        window_days: trailing window of the rolling scores.
        step_days: days between rolling windows.
        block_days: as-of days per baseline refit (default: the spec's ``test_days``).

    Returns:
        The scored records, the score tables, rolling scores and reliability.
    """
    history: VolatilityHistory | None = None
    matured: list[pd.DataFrame] = []
    pending = 0
    score_rows: list[dict[str, object]] = []
    summaries: list[dict[str, object]] = []
    rolling: list[dict[str, object]] = []
    reliability: dict[str, pd.DataFrame] = {}
    for target, part in ledger.groupby("target", sort=True):
        spec = specs.get(str(target))
        if spec is None or part.empty:
            continue
        rows = _labelled(part, spec, feature_store)
        known = rows["label"].notna().to_numpy()
        pending += int((~known).sum())
        rows = rows.loc[known].reset_index(drop=True)
        if rows.empty:
            continue
        if history is None:
            history = VolatilityHistory.of(feature_store)
        rows = _baselines(rows, spec, feature_store, history, block_days or spec.test_days)
        matured.append(rows)
        versions = [ALL_VERSIONS, *sorted(set(rows["model_version"]), key=_version_key)]
        cell = "threshold" if target == "drawdown" else "level"
        first = rows.sort_values("issued_ts", kind="stable").drop_duplicates(
            ["symbol", "asof", cell, "horizon_days"]
        )
        first = first.sort_values(["asof", "symbol"], kind="stable").reset_index(drop=True)
        for version in versions:
            chosen = first if version == ALL_VERSIONS else rows[rows["model_version"] == version]
            found, summary, losses, best = _scores(
                chosen, str(target), version, n_boot=n_boot, level=level, seed=seed
            )
            score_rows += found
            summaries.append(summary)
            if version == ALL_VERSIONS:
                rolling += _rolling(
                    chosen,
                    losses,
                    str(target),
                    best,
                    window_days=window_days,
                    step_days=step_days,
                    n_boot=n_boot,
                    level=level,
                    seed=seed,
                )
                reliability[str(target)] = reliability_table(
                    chosen["probability"].to_numpy(), chosen["label"].to_numpy()
                )
    return Evaluation(
        rows=pd.concat(matured, ignore_index=True) if matured else pd.DataFrame(),
        scores=pd.DataFrame.from_records(score_rows, columns=list(SCORE_COLUMNS)),
        summary=pd.DataFrame.from_records(summaries, columns=list(SUMMARY_COLUMNS)),
        rolling=pd.DataFrame.from_records(rolling, columns=list(ROLLING_COLUMNS)),
        reliability=reliability,
        pending=pending + int((~ledger["target"].isin(list(specs))).sum()),
        level=level,
        window_days=window_days,
    )


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if str(version).isdigit() else (10**9, str(version))


def replay_days(
    feature_store: FeatureStore,
    symbols: Sequence[str],
    start: object,
    end: object,
) -> pd.DatetimeIndex:
    """Daily as-of times from ``start`` to ``end`` (UTC days, inclusive), up to the latest
    as-of time every symbol can answer.

    Raises:
        InvalidTimeError: ``start`` or ``end`` is not a time.
        PredictionInputError: no day in the window.
    """
    from downside.errors import PredictionInputError

    first, last = utc_day(start, "replay start"), utc_day(end, "replay end")
    latest = min(feature_store.latest_asof(s) for s in symbols)
    stop = min(last, latest)
    if stop < first:
        raise PredictionInputError(
            f"no day to replay between {first:%Y-%m-%d} and {last:%Y-%m-%d}: the store can "
            f"answer up to {latest:%Y-%m-%d}; pass an earlier start or ingest newer data"
        )
    return pd.date_range(first, stop, freq="D", unit="us")


def replay_rows(
    model: LedgerModel,
    feature_store: FeatureStore,
    days: pd.DatetimeIndex,
    *,
    trained_until: pd.Timestamp | None,
    symbols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Ledger records of what ``model`` would have said at each of ``days``.

    Args:
        model: the registered model.
        feature_store: point-in-time features (each day sees only what was known then).
        days: as-of times (see :func:`replay_days`).
        trained_until: when the last daily bar of its training data became known (the
            training run's data fingerprint); None: the latest label end of its
            training rows (the predictor's profile).
        symbols: default the model's symbols.

    Raises:
        LookAheadError: the first day is before ``trained_until``, or when the model's
            training data ended is unknown.
        InsufficientHistoryError: too little history at a day.
    """
    until = trained_until
    if until is None and model.predictor.profile is not None:
        until = model.predictor.profile.last_label_end
    first = pd.Timestamp(days[0])
    if until is None:
        raise LookAheadError(model.describe(), None, first)
    if first < utc(until):
        raise LookAheadError(model.describe(), utc(until), first)
    names = list(symbols) if symbols else list(model.predictor.spec.frame.symbols)
    answer = model.predictor.answer(feature_store, symbols=names, asof=list(days), allow_stale=True)
    return ledger_rows(answer, model, data_version=feature_store.cache_key(), origin="replay")
