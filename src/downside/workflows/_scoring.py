"""Scores that match the question, for backtests and ablations.

- **Joint surface score**: for one (symbol, as-of, horizon), the mean Brier score over a
  fine threshold grid (1% to 50% in steps of one point). Averaging the Brier score over
  thresholds approximates the CRPS of the running minimum's distribution (the threshold
  decomposition of the CRPS), so the whole surface is scored at once, not cell by cell.
  Skill ``1 - S_model / S_reference`` gets a circular block-bootstrap interval over days.
- **Murphy decomposition** (CORP, Dimitriadis, Gneiting and Jordan 2021): ``score = MCB
  - DSC + UNC`` with the recalibrated forecast from isotonic regression (scikit-learn).
- **Model confidence set** (Hansen, Lunde and Nason 2011) of the daily joint losses,
  from ``arch.bootstrap.MCS``.
- **Calibration over time**: mean forecast against the realized event rate per quarter,
  and scores in drawdown-heavy against calm quarters and per volatility tercile.
- **Early warning**: for every drawdown of 15% or more, the forecasts of the 14 as-of
  days before it (model against the best baseline), lift with an interval over episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from downside.datasets import build_frame
from downside.evaluation import block_bootstrap_ci
from downside.features import FeatureStore
from downside.models import ModelSpec
from downside.vocabulary import US_PER_DAY, to_us

FloatArray = npt.NDArray[np.float64]

FINE_THRESHOLDS: tuple[float, ...] = tuple(np.round(np.arange(0.01, 0.505, 0.01), 4).tolist())
"""Thresholds of the joint surface score: 1% to 50% in steps of one point."""


EPISODE_DROP = 0.15
"""Size of the drawdowns whose early warning is measured."""

EPISODE_DAYS = 14
"""Window of an episode's drawdown, and the as-of days before it that are scored."""


def fine_rows(
    spec: ModelSpec, feature_store: FeatureStore, test: pd.DataFrame, features: Sequence[str]
) -> pd.DataFrame:
    """The labelled rows of the joint score's fine threshold grid at the (symbol, as-of)
    keys of ``test``, with ``features`` (built by the one frame builder)."""
    keys = test[["symbol", "asof"]].drop_duplicates().reset_index(drop=True)
    return build_frame(
        spec.frame, feature_store, asof=keys, thresholds=FINE_THRESHOLDS, features=features
    ).labelled


def joint_losses(frame: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Joint surface losses: per (symbol, asof, horizon_days), the mean squared error of
    each model's probability column over the rows' thresholds (or levels).

    Args:
        frame: forecast rows with ``symbol, asof, horizon_days, label`` and one
            probability column per model.
        models: the probability columns.

    Returns:
        One row per (symbol, asof, horizon_days) with ``n`` (rows averaged) and one
        loss column per model.
    """
    y = frame["label"].to_numpy(dtype=np.float64)
    errors = pd.DataFrame(
        {m: (frame[m].to_numpy(dtype=np.float64) - y) ** 2 for m in models},
        index=frame.index,
    )
    keys = frame[["symbol", "asof", "horizon_days"]]
    grouped = pd.concat([keys, errors], axis=1).groupby(
        ["symbol", "asof", "horizon_days"], sort=True, observed=True
    )
    out = grouped[list(models)].mean()
    out.insert(0, "n", grouped.size())
    return out.reset_index()


def _daily(losses: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Losses summed per as-of day (the unit the bootstrap resamples)."""
    return losses.groupby("asof", sort=True)[list(columns)].sum()


def skill_interval(
    losses: pd.DataFrame,
    model: str,
    reference: str,
    *,
    block_days: int,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[float, float, float]:
    """``1 - sum(L_model) / sum(L_reference)`` with a circular block-bootstrap interval
    over as-of days (blocks of ``block_days`` whole days)."""
    daily = _daily(losses, [model, reference])
    m = daily[model].to_numpy(dtype=np.float64)
    r = daily[reference].to_numpy(dtype=np.float64)

    def skill(a: FloatArray, b: FloatArray) -> float:
        return float(1.0 - a.sum() / b.sum())

    block = int(min(max(block_days, 1), len(m)))
    ci = block_bootstrap_ci(skill, m, r, block_length=block, n_boot=n_boot, seed=seed, level=level)
    return ci.estimate, ci.lower, ci.upper


def joint_table(
    losses: pd.DataFrame,
    models: Sequence[str],
    reference: str,
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> pd.DataFrame:
    """Joint score of every model, overall and per horizon, with its skill against
    ``reference`` and the interval."""
    rows = []
    horizons = sorted(losses["horizon_days"].unique())
    for scope, part, block in [("overall", losses, int(max(horizons)))] + [
        ("horizon", losses[losses["horizon_days"] == h], max(int(np.ceil(h)), 1)) for h in horizons
    ]:
        h_value = float("nan") if scope == "overall" else float(part["horizon_days"].iloc[0])
        for m in models:
            est, lo, hi = skill_interval(
                part, m, reference, block_days=block, n_boot=n_boot, level=level, seed=seed
            )
            rows.append(
                {
                    "scope": scope,
                    "horizon_days": h_value,
                    "model": m,
                    "joint_score": float(part[m].mean()),
                    "reference": reference,
                    "skill": est,
                    "skill_lower": lo,
                    "skill_upper": hi,
                }
            )
    return pd.DataFrame.from_records(rows)


def murphy(p: npt.ArrayLike, y: npt.ArrayLike) -> dict[str, float]:
    """CORP decomposition of the Brier score: ``brier = miscalibration - discrimination
    + uncertainty``, with the isotonic recalibration of ``p`` (scikit-learn)."""
    prob = np.asarray(p, dtype=np.float64)
    obs = np.asarray(y, dtype=np.float64)
    recalibrated = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit_transform(
        prob, obs
    )
    score = float(np.mean((prob - obs) ** 2))
    score_rc = float(np.mean((recalibrated - obs) ** 2))
    uncertainty = float(np.mean((obs.mean() - obs) ** 2))
    return {
        "brier": score,
        "miscalibration": score - score_rc,
        "discrimination": uncertainty - score_rc,
        "uncertainty": uncertainty,
    }


def decomposition_table(frame: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Murphy decomposition of every model on all rows of ``frame``."""
    y = frame["label"].to_numpy(dtype=np.float64)
    return pd.DataFrame.from_records(
        [{"model": m, **murphy(frame[m].to_numpy(dtype=np.float64), y)} for m in models]
    )


def model_confidence_set(
    losses: pd.DataFrame,
    models: Sequence[str],
    *,
    size: float = 0.1,
    block_days: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Hansen-Lunde-Nason model confidence set of the daily joint losses (``arch``).

    Returns:
        One row per model: ``model``, ``pvalue`` and ``included`` (in the set at level
        ``1 - size``).
    """
    from arch.bootstrap import MCS

    daily = _daily(losses, models).to_numpy(dtype=np.float64)
    # identical forecasts (a model that is exactly a baseline) have no loss differences
    # to test: keep one column per distinct forecast and give its twins its result
    twin = [
        next(j for j in range(k + 1) if np.array_equal(daily[:, j], daily[:, k]))
        for k in range(daily.shape[1])
    ]
    distinct = sorted(set(twin))
    # plain arrays: arch's MCS indexes the columns of a frame with its own positions,
    # which pandas 3's string columns refuse
    mcs = MCS(daily[:, distinct], size=size, reps=n_boot, block_size=block_days, seed=seed)
    mcs.compute()
    pvalues: dict[int, float] = {}
    # a label is a model's position, or an array of positions eliminated together
    for label, value in zip(mcs.pvalues.index, mcs.pvalues["Pvalue"].to_numpy(), strict=True):
        for k in np.ravel(np.asarray(label)):
            pvalues[distinct[int(k)]] = float(value)
    # the set at level 1 - size: the models whose MCS p-value exceeds ``size`` (arch's
    # ``included`` fails on tied eliminations, so read it off the p-values)
    included = {k for k, value in pvalues.items() if value > size}
    return pd.DataFrame(
        {
            "model": list(models),
            "pvalue": [pvalues[twin[k]] for k in range(len(models))],
            "included": [twin[k] in included for k in range(len(models))],
        }
    )


def calibration_by_quarter(frame: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Per calendar quarter of the as-of times: the realized event rate, every model's
    mean forecast, and whether the quarter was drawdown-heavy (event rate above the
    median quarter's)."""
    quarter = pd.DatetimeIndex(frame["asof"]).tz_convert("UTC").tz_localize(None).to_period("Q")
    grouped = frame.assign(quarter=quarter.astype(str)).groupby("quarter", sort=True)
    out = grouped[["label", *models]].mean().rename(columns={"label": "event_rate"})
    out.insert(0, "n", grouped.size())
    out["heavy"] = out["event_rate"] > out["event_rate"].median()
    return out.reset_index()


def regime_table(
    losses: pd.DataFrame, models: Sequence[str], heavy_quarters: set[str], sigma: pd.Series
) -> pd.DataFrame:
    """Joint score of every model per regime: volatility tercile of the as-of time
    (``sigma`` indexed like ``losses``) and drawdown-heavy vs calm quarter."""
    quarter = (
        pd.DatetimeIndex(losses["asof"]).tz_convert("UTC").tz_localize(None).to_period("Q")
    ).astype(str)
    tercile = pd.qcut(sigma.to_numpy(dtype=np.float64), 3, labels=["low", "mid", "high"])
    groups = {
        "vol_regime": np.asarray(tercile, dtype=object),
        "period": np.where(np.isin(quarter, list(heavy_quarters)), "drawdown-heavy", "calm"),
    }
    parts = []
    for scope, labels in groups.items():
        table = losses[list(models)].groupby(labels).mean()
        table.insert(0, "n", losses.groupby(labels).size())
        parts.append(table.reset_index(names="group").assign(scope=scope))
    result = pd.concat(parts, ignore_index=True)
    return result[["scope", "group", "n", *models]]


def drawdown_episodes(prices: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Days on which a drawdown of :data:`EPISODE_DROP` or more completed: the low is at
    least 15% below a close of the previous :data:`EPISODE_DAYS` days, and no such day
    happened in the days before (one episode per sell-off).

    Returns:
        ``symbol, day`` (00:00 UTC of the day the low happened), within ``[start, end]``.
    """
    rows: list[tuple[str, pd.Timestamp]] = []
    for symbol, bars in prices.groupby("symbol", sort=True):
        bars = bars.sort_values("event_ts")
        close = bars["close"].to_numpy(dtype=np.float64)
        low = bars["low"].to_numpy(dtype=np.float64)
        day = to_us(bars["event_ts"])
        peak = pd.Series(close).rolling(EPISODE_DAYS, min_periods=1).max().shift(1).to_numpy()
        hit = low <= (1.0 - EPISODE_DROP) * peak
        last = -np.inf
        for k in np.flatnonzero(hit):
            if day[k] - last > EPISODE_DAYS * US_PER_DAY:
                rows.append((str(symbol), pd.Timestamp(int(day[k]), unit="us", tz="UTC")))
            last = day[k]
    episodes = pd.DataFrame(rows, columns=["symbol", "day"])
    inside = (episodes["day"] >= start) & (episodes["day"] <= end)
    return episodes[inside].reset_index(drop=True)


def early_warning(
    predictions: pd.DataFrame,
    episodes: pd.DataFrame,
    model: str,
    reference: str,
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Mean P(drawdown >= 15% within 14 days) over the as-of days that cover each
    episode's day (the 14 days up to it), for ``model`` and ``reference``.

    Returns:
        The per-episode table, and the summary: ``episodes``, mean probabilities, the
        lift ``mean(model) / mean(reference)`` with a bootstrap interval over episodes
        (``arch``'s IID bootstrap), and the share of episodes where the model was
        higher.
    """
    from arch.bootstrap import IIDBootstrap

    cell = predictions[
        np.isclose(predictions["threshold"], EPISODE_DROP)
        & np.isclose(predictions["horizon_days"], EPISODE_DAYS)
    ]
    records = []
    for symbol, day in zip(episodes["symbol"], episodes["day"], strict=True):
        when = pd.Timestamp(day)
        window = cell[
            (cell["symbol"] == symbol)
            & (cell["asof"] > when - pd.Timedelta(days=EPISODE_DAYS))
            & (cell["asof"] <= when)
        ]
        if window.empty:
            continue
        records.append(
            {
                "symbol": symbol,
                "day": when,
                "n_asof": len(window),
                model: float(window[model].mean()),
                reference: float(window[reference].mean()),
            }
        )
    table = pd.DataFrame.from_records(
        records, columns=["symbol", "day", "n_asof", model, reference]
    )
    summary: dict[str, Any] = {
        "episodes": len(table),
        "model": model,
        "reference": reference,
        "all_model": float(cell[model].mean()),
        "all_reference": float(cell[reference].mean()),
    }
    if len(table) < 2:
        return table, summary
    a = table[model].to_numpy(dtype=np.float64)
    b = table[reference].to_numpy(dtype=np.float64)
    boot = IIDBootstrap(a, b, seed=seed)
    lifts = boot.apply(lambda x, y: np.array([x.mean() / y.mean()]), reps=n_boot)[:, 0]
    alpha = (1.0 - level) / 2.0
    summary |= {
        "mean_model": float(a.mean()),
        "mean_reference": float(b.mean()),
        "lift": float(a.mean() / b.mean()),
        "lift_lower": float(np.quantile(lifts, alpha)),
        "lift_upper": float(np.quantile(lifts, 1.0 - alpha)),
        "share_model_higher": float(np.mean(a > b)),
    }
    return table, summary


def best_reference(losses: pd.DataFrame, baselines: Sequence[str]) -> str:
    """The baseline with the lowest mean joint score."""
    means = losses[list(baselines)].mean()
    return str(means.idxmin())
