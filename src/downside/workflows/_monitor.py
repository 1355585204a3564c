"""``monitor``: is the model still fit to run? Input drift, stale sources, calibration decay.

Three checks, each against limits from the settings (:class:`MonitorLimits`):

- **Input drift**: for every input the model's trees split on, and its volatility
  inputs, the population stability index (PSI) of the last ``window_days`` of daily
  as-of times against the training window (the predictor's input profile: deciles plus
  a bin below and above the training range and one for missing values). Slow inputs
  (a 200-day trend, a 90-day z-score) sit in a few deciles in any short window, so a raw
  PSI would always alarm: the recent PSI is compared with the PSIs of every window of
  the same length inside the training period (point in time, from the store). An input
  drifts when its PSI exceeds both ``psi_alert`` and the ``drift_quantile`` quantile of
  those (default 1: more unusual than every training window) and at least
  ``min_outside_share`` of its recent values lie outside the range it had in training:
  a slow input sitting in one decile for a month (a PSI near 8.3, which a short training
  period may never have shown) is not drift; inputs leaving the range the model knows
  are (a window entirely outside scores about 16).
- **Staleness per source**: how long ago each table the models read last published
  (:func:`downside.workflows._daily.source_ages`).
- **Calibration decay**: the latest rolling window of the track record
  (:func:`downside.workflows.evaluate_ledger`): the joint skill against the best
  baseline with its interval (an alert when the whole interval lies below
  ``min_skill``) and the expected calibration error (an alert above ``max_ece``), once
  the window holds ``min_days`` matured as-of days.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from downside.datasets import build_frame
from downside.evaluation import window_psi
from downside.features import FeatureStore
from downside.store import Store
from downside.vocabulary import US_PER_DAY, to_us, utc, utc_now
from downside.workflows._daily import source_ages, source_tables
from downside.workflows._evaluate import Evaluation
from downside.workflows._ledger import LedgerModel

VOLATILITY_INPUTS: tuple[str, ...] = ("sigma_daily", "sigma_parkinson")
"""Volatility inputs whose drift is checked beside the features the trees use."""

DRIFT_COLUMNS = (
    "model",
    "input",
    "psi",
    "threshold",
    "training_windows",
    "outside_share",
    "drift",
)
CALIBRATION_COLUMNS = (
    "target",
    "date",
    "days",
    "reference",
    "skill",
    "skill_lower",
    "skill_upper",
    "ece",
    "decay",
)


@dataclass(frozen=True, kw_only=True)
class MonitorLimits:
    """When a check alerts (the settings ``monitor_*``).

    Attributes:
        window_days: recent window of as-of days for drift.
        psi_alert: smallest PSI that counts as drift.
        drift_quantile: quantile of the training windows' PSIs a recent PSI must exceed.
        min_outside_share: share of recent values outside the training range a drifting
            input needs.
        max_price_age_hours: oldest acceptable price bar.
        max_source_age_hours: oldest acceptable value of the other sources.
        min_skill: alert when the rolling skill's whole interval lies below this.
        max_ece: alert when the rolling expected calibration error exceeds this.
        min_days: matured as-of days a rolling window needs before it is judged.
    """

    window_days: int = 30
    psi_alert: float = 0.25
    drift_quantile: float = 1.0
    min_outside_share: float = 0.05
    max_price_age_hours: float = 36.0
    max_source_age_hours: float = 120.0
    min_skill: float = 0.0
    max_ece: float = 0.1
    min_days: int = 20


@dataclass(frozen=True)
class MonitorReport:
    """What :func:`monitor` found.

    Attributes:
        status: ``healthy`` or ``alert``.
        reasons: one sentence per alert.
        asof: the latest as-of time checked.
        drift: per model and input: :data:`DRIFT_COLUMNS` (``outside_share``: share of
            recent values outside the training range).
        sources: age of every source table (:func:`downside.workflows._daily.source_ages`).
        calibration: per target, the latest rolling window: :data:`CALIBRATION_COLUMNS`.
        notes: what could not be checked, and why.
    """

    status: Literal["healthy", "alert"]
    reasons: tuple[str, ...]
    asof: pd.Timestamp
    drift: pd.DataFrame
    sources: pd.DataFrame
    calibration: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"


def _days(times: pd.Series) -> np.ndarray:
    return np.asarray(to_us(times) // US_PER_DAY, dtype=np.int64)


def _values(
    model: LedgerModel, feature_store: FeatureStore, spine: pd.DataFrame, inputs: list[str]
) -> pd.DataFrame:
    """Features and volatility inputs at each spine row (one row per key)."""
    features = [c for c in inputs if c not in VOLATILITY_INPUTS]
    out = feature_store.get_features(spine, features)
    one_cell = dataclasses.replace(
        model.predictor.spec.frame, target="drawdown", thresholds=(0.1,), horizons_days=(1.0,)
    )
    vol = build_frame(one_cell, feature_store, asof=spine, features=[]).frame
    merged = out[["symbol", "asof"]].merge(
        vol[["symbol", "asof", *VOLATILITY_INPUTS]], on=["symbol", "asof"], how="left"
    )
    for column in VOLATILITY_INPUTS:
        out[column] = merged[column].to_numpy()
    return out


def drift_table(
    model: LedgerModel,
    feature_store: FeatureStore,
    asof: pd.Timestamp,
    limits: MonitorLimits,
) -> pd.DataFrame:
    """PSI of the recent window against training, with the training windows' spread.

    Returns:
        :data:`DRIFT_COLUMNS`, one row per checked input (empty without a profile).
    """
    profile = model.predictor.profile
    if profile is None or profile.first_asof is None or profile.last_asof is None:
        return pd.DataFrame(columns=list(DRIFT_COLUMNS))
    spec = model.predictor.spec.frame
    symbols = list(dict.fromkeys([*spec.symbols, *spec.pool_symbols]))
    inputs = [
        c for c in (*model.predictor.used_features(), *VOLATILITY_INPUTS) if c in profile.columns
    ]
    known = set(feature_store.symbols())
    symbols = [s for s in symbols if s in known]
    train_days = pd.date_range(profile.first_asof, profile.last_asof, freq="D", unit="us")
    recent_days = pd.date_range(
        asof - pd.Timedelta(days=limits.window_days - 1), asof, freq="D", unit="us"
    )

    def spine(days: pd.DatetimeIndex) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "symbol": pd.array(np.repeat(symbols, len(days)), dtype="str"),
                "asof": days.take(np.tile(np.arange(len(days)), len(symbols))),
            }
        )

    train = _values(model, feature_store, spine(train_days), inputs)
    recent = _values(model, feature_store, spine(recent_days), inputs)
    step = max(1, limits.window_days // 4)
    rows = []
    for name in inputs:
        column = profile.columns[name]
        nulls = [
            window_psi(
                part[name].to_numpy(dtype=np.float64),
                _days(part["asof"]),
                column.shares,
                column.edges,
                column.low,
                column.high,
                window=limits.window_days,
                step=step,
            )
            for _, part in train.groupby("symbol", sort=True)
        ]
        null = np.concatenate(nulls) if nulls else np.zeros(0)
        values = recent[name].to_numpy(dtype=np.float64)
        psi = column.psi(values)
        threshold = max(
            limits.psi_alert,
            float(np.quantile(null, limits.drift_quantile)) if null.size else limits.psi_alert,
        )
        finite = values[np.isfinite(values)]
        outside = float(column.outside(finite).mean()) if finite.size else float("nan")
        rows.append(
            {
                "model": model.describe(),
                "input": name,
                "psi": psi,
                "threshold": threshold,
                "training_windows": int(null.size),
                "outside_share": outside,
                "drift": bool(psi > threshold and outside >= limits.min_outside_share),
            }
        )
    return pd.DataFrame.from_records(rows, columns=list(DRIFT_COLUMNS))


def calibration_table(evaluation: Evaluation | None, limits: MonitorLimits) -> pd.DataFrame:
    """The latest rolling window per target, judged against the limits."""
    if evaluation is None or evaluation.rolling.empty:
        return pd.DataFrame(columns=list(CALIBRATION_COLUMNS))
    rolling = evaluation.rolling.sort_values("date")
    latest = rolling.groupby("target", sort=True).tail(1)
    rows = []
    for row in latest.to_dict("records"):
        judged = int(row["days"]) >= limits.min_days
        decay = judged and (
            float(row["skill_upper"]) < limits.min_skill or float(row["ece"]) > limits.max_ece
        )
        rows.append({**{c: row[c] for c in CALIBRATION_COLUMNS if c != "decay"}, "decay": decay})
    return pd.DataFrame.from_records(rows, columns=list(CALIBRATION_COLUMNS))


def monitor(
    models: Mapping[str, LedgerModel],
    feature_store: FeatureStore,
    evaluation: Evaluation | None,
    *,
    now: pd.Timestamp | None = None,
    limits: MonitorLimits | None = None,
) -> MonitorReport:
    """Check input drift, source staleness and calibration decay (module docstring).

    Args:
        models: the models in use, by target.
        feature_store: the store's features.
        evaluation: the track record (None: calibration is not checked).
        now: the wall clock (default: now).
        limits: the alert limits (default :class:`MonitorLimits`).

    Returns:
        The status, the reasons and the tables behind them.
    """
    limits = limits or MonitorLimits()
    clock = utc(now) if now is not None else utc_now()
    symbols = list(
        dict.fromkeys(s for m in models.values() for s in m.predictor.spec.frame.symbols)
    )
    asof = min(feature_store.latest_asof(s) for s in symbols)
    reasons: list[str] = []
    notes: list[str] = []
    drift = []
    used: set[str] = set()
    for model in models.values():
        used |= set(model.predictor.used_features())
        table = drift_table(model, feature_store, asof, limits)
        if model.predictor.profile is None:
            notes.append(
                f"{model.describe()} has no training profile (saved by an older version): "
                "drift not checked; retrain it to check drift"
            )
        drift.append(table)
        drifting = table[table["drift"]]
        if len(drifting):
            worst = drifting.sort_values("psi", ascending=False).head(5)
            shown = ", ".join(
                f"{name} (PSI {psi:.2f})"
                for name, psi in zip(worst["input"], worst["psi"], strict=True)
            )
            reasons.append(
                f"input drift for {model.describe()}: {len(drifting)} of {len(table)} inputs "
                f"beyond their training spread over the last {limits.window_days} days: {shown}"
            )
    store = feature_store.store
    assert isinstance(store, Store)
    ages = source_ages(
        store,
        source_tables(feature_store, used),
        clock,
        max_price_age_hours=limits.max_price_age_hours,
        max_source_age_hours=limits.max_source_age_hours,
    )
    for table, age, limit in ages.loc[
        ages["stale"], ["table", "age_hours", "limit_hours"]
    ].itertuples(index=False):
        when = "never ingested" if np.isnan(age) else f"{age:.0f} hours old (limit {limit:g} h)"
        reasons.append(f"stale source {table}: {when}")
    calibration = calibration_table(evaluation, limits)
    if evaluation is None or evaluation.rolling.empty:
        notes.append("no matured forecasts in the ledger yet: calibration not checked")
    for row in calibration.to_dict("records"):
        target, days, date = str(row["target"]), int(row["days"]), pd.Timestamp(row["date"])
        if days < limits.min_days:
            notes.append(
                f"{target}: the latest window holds {days} matured days (at least "
                f"{limits.min_days} needed): calibration not judged"
            )
        if row["decay"]:
            skill, lower, upper = (
                100 * float(row[c]) for c in ("skill", "skill_lower", "skill_upper")
            )
            reasons.append(
                f"calibration decay of the {target} model over the {days} days to "
                f"{date:%Y-%m-%d}: joint skill against {row['reference']} {skill:+.1f}% "
                f"[{lower:+.1f}%, {upper:+.1f}%] (alert below {100 * limits.min_skill:+.1f}%), "
                f"ECE {float(row['ece']):.3f} (limit {limits.max_ece:g})"
            )
    return MonitorReport(
        status="alert" if reasons else "healthy",
        reasons=tuple(reasons),
        asof=asof,
        drift=pd.concat(drift, ignore_index=True)
        if drift
        else pd.DataFrame(columns=list(DRIFT_COLUMNS)),
        sources=ages,
        calibration=calibration,
        notes=tuple(notes),
    )
