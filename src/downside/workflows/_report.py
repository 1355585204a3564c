"""``risk_report``: an HTML page with PNG figures for one symbol, from fitted predictors.

The job behind ``downside report``. It runs without MLflow: what the registry knows
about each model (its name and version, when its training data ended, the reliability
diagram its training run logged) comes in as :class:`ModelInfo`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from downside.datasets import check_request
from downside.errors import PredictionInputError
from downside.evaluation import (
    ReportSection,
    contribution_bars,
    drawdown_history,
    realized_drawdown,
    support_chart,
    surface_heatmap,
    write_html_report,
)
from downside.features import FeatureStore
from downside.models import Predictor

_HISTORY_WARMUP = pd.Timedelta(days=30)
"""History a report skips after a symbol's first bar (the volatility needs 20 bars)."""


@dataclass(frozen=True)
class ModelInfo:
    """What the report says about a model in use.

    Attributes:
        description: e.g. ``downside-drawdown v3 (models:/downside-drawdown@champion)``.
        trained_until: last availability time of the daily bars its training saw, if
            known (forecasts before it are in-sample fits).
        reliability_png: the out-of-sample reliability diagram of its training run,
            already copied into the report folder, if there is one.
        reliability_note: why there is none.
    """

    description: str
    trained_until: pd.Timestamp | None = None
    reliability_png: Path | None = None
    reliability_note: str = ""


@dataclass(frozen=True)
class RiskReport:
    """What :func:`risk_report` wrote."""

    index: Path
    files: list[Path]
    asof: pd.Timestamp
    stale_features: list[str]


def _percent_grid(surface: pd.DataFrame) -> pd.DataFrame:
    grid = surface.pivot_table(index="threshold", columns="horizon_days", values="probability")
    table = pd.DataFrame({"drawdown": [f">= {100 * t:g}%" for t in grid.index]})
    for h in grid.columns:
        table[f"{h:g}d"] = [f"{100 * p:.1f}%" for p in grid[h]]
    return table


def risk_report(
    symbol: str,
    out: Path,
    *,
    drawdown: Predictor | None,
    support: Predictor | None,
    feature_store: FeatureStore,
    asof: Any = None,
    threshold: float = 0.10,
    horizon_days: float = 7.0,
    history_days: int = 365,
    models: Mapping[str, ModelInfo] | None = None,
) -> RiskReport:
    """Write an HTML risk report with PNG figures for one symbol.

    The page shows the P(drawdown) surface as a heatmap, the history of P(drawdown >=
    ``threshold`` within ``horizon_days``) against the drawdowns that followed, the
    support levels with their break probabilities on a price chart, the driver-family
    contributions, and the reliability diagram logged when each model in use was
    trained. Stale inputs do not stop the report: they are listed at the top.

    Args:
        symbol: e.g. ``"BTC"``.
        out: output folder (created; existing files of the same names are replaced).
        drawdown: the drawdown predictor, or None.
        support: the support predictor, or None.
        feature_store: where features and prices are read.
        asof: the report time; None for the latest known time.
        threshold: drawdown threshold of the history and contributions (fraction).
        horizon_days: horizon of the history, the support chart and contributions.
        history_days: days of history shown.
        models: what is known about each model in use, by kind (``drawdown``,
            ``support``).

    Raises:
        UnknownSymbolError: unknown symbol.
        PredictionInputError: no predictor, or a threshold or horizon outside the
            trained range.
        InsufficientHistoryError: too little history at the report time.
    """
    models = dict(models or {})
    first_model = drawdown or support
    if first_model is None:
        raise PredictionInputError("no model given: pass a drawdown or a support predictor")
    request = check_request(first_model.spec.frame, feature_store, symbols=symbol, asof=asof)
    sym = str(request.spine["symbol"].iloc[0])
    when = request.spine["asof"].iloc[0]
    out.mkdir(parents=True, exist_ok=True)
    fs = feature_store
    prices = fs.store.prices("1d", fs.daily_venues, [sym])
    prices = prices[prices["available_ts"] <= when].reset_index(drop=True)
    sections: list[ReportSection] = []
    stale: set[str] = set()
    files: list[Path] = []
    when_text = f"{when:%Y-%m-%d %H:%M} UTC"

    if drawdown is not None:
        surface = drawdown.answer(fs, symbols=sym, asof=when, allow_stale=True)
        stale |= {n for v in surface["stale_features"] for n in v.split(",") if n}
        files.append(
            surface_heatmap(
                surface, out / "surface.png", title=f"{sym}: P(drawdown) as of {when_text}"
            )
        )
        sections.append(
            ReportSection(
                "Probability surface",
                "Probability that the price falls at least X below the last close within H days.",
                files[-1],
                _percent_grid(surface),
            )
        )
        first = prices["available_ts"].min().ceil("D") + _HISTORY_WARMUP
        start = max(first, when - pd.Timedelta(days=history_days))
        times = pd.date_range(start.ceil("D"), when, freq="D", unit="us")
        history = drawdown.answer(
            fs,
            symbols=sym,
            asof=times,
            thresholds=[threshold],
            horizons=[horizon_days],
            allow_stale=True,
        )
        history["realized_drawdown"] = realized_drawdown(
            prices, history["asof"], horizon_days
        ).to_numpy()
        trained_until = models["drawdown"].trained_until if "drawdown" in models else None
        files.append(
            drawdown_history(
                history,
                out / "history.png",
                threshold=threshold,
                horizon_days=horizon_days,
                title=f"{sym}: forecast vs realized",
                trained_until=trained_until,
            )
        )
        hits = int((history["realized_drawdown"] <= -threshold).sum())
        known = int(history["realized_drawdown"].notna().sum())
        sections.append(
            ReportSection(
                f"P(drawdown >= {100 * threshold:g}% within {horizon_days:g} days) over time",
                f"{known} as-of days with a known outcome, {hits} followed by such a drawdown; "
                f"mean forecast {100 * history['probability'].mean():.1f}%. Forecasts use only "
                "data known at each day"
                + (
                    f"; the model was trained on data up to {trained_until:%Y-%m-%d}, so "
                    "points before that date are in-sample fits, not forecasts."
                    if trained_until is not None
                    else "."
                ),
                files[-1],
            )
        )
        rows = surface[np.isclose(surface["threshold"], threshold)].copy()
        rows["label"] = [f"P(>= {100 * threshold:g}% in {h:g}d)" for h in rows["horizon_days"]]
        files.append(
            contribution_bars(
                rows,
                out / "drivers.png",
                label="label",
                families=drawdown.family_names,
                title=f"{sym}: what moves P(drawdown) as of {when_text}",
            )
        )
        sections.append(
            ReportSection(
                "Driver contributions",
                "Probability points each driver family adds to the reference probability "
                "(the model with no family switched on); exact Shapley values of the "
                "families, from LightGBM's TreeSHAP values.",
                files[-1],
            )
        )

    if support is not None:
        supports = support.answer(fs, symbols=sym, asof=when, allow_stale=True)
        stale |= {n for v in supports["stale_features"] for n in v.split(",") if n}
        recent = prices[prices["event_ts"] >= when - pd.Timedelta(days=180)]
        files.append(
            support_chart(
                recent,
                supports,
                out / "supports.png",
                horizon_days=horizon_days,
                title=f"{sym}: supports as of {when_text}",
            )
        )
        at_h = supports[np.isclose(supports["horizon_days"], horizon_days)].copy()
        table = pd.DataFrame(
            {
                "level": [f"{v:,.2f}" for v in at_h["level"]],
                "type": at_h["level_type"].astype(str),
                "below price": [f"{100 * v:.1f}%" for v in at_h["distance_pct"]],
                f"P(break in {horizon_days:g}d)": [f"{100 * p:.1f}%" for p in at_h["probability"]],
                "baseline": [f"{100 * p:.1f}%" for p in at_h["baseline_probability"]],
                "leading driver": at_h["leading_driver"].astype(str),
            }
        )
        sections.append(
            ReportSection(
                "Support levels",
                "Auto-detected supports below the last close and the probability of a daily "
                f"close below each within {horizon_days:g} days.",
                files[-1],
                table,
            )
        )
        if not at_h.empty:
            at_h["label"] = [
                f"{v:,.0f} {t}" for v, t in zip(at_h["level"], at_h["level_type"], strict=True)
            ]
            files.append(
                contribution_bars(
                    at_h,
                    out / "drivers_support.png",
                    label="label",
                    families=support.family_names,
                    title=f"{sym}: what moves P(break within {horizon_days:g}d)",
                )
            )
            sections.append(ReportSection("Driver contributions to support breaks", "", files[-1]))

    for kind, info in models.items():
        title = f"Reliability of the {kind} model"
        if info.reliability_png is None:
            sections.append(ReportSection(title, info.reliability_note))
            continue
        files.append(info.reliability_png)
        sections.append(
            ReportSection(
                title,
                f"{info.description}: out-of-sample forecasts on the purged walk-forward "
                "folds of its training run against observed frequencies (dashed: perfect "
                "calibration), with the baselines.",
                files[-1],
            )
        )
    described = ", ".join(m.description for m in models.values()) or "models given in code"
    intro = f"{sym} as of {when_text}. Models: {described}."
    if stale:
        intro += (
            f" Stale inputs (older than their time-to-live, treated as missing): "
            f"{', '.join(sorted(stale))}."
        )
    index = write_html_report(out, f"downside risk report: {sym}", intro, sections)
    return RiskReport(index, [index, *files], when, sorted(stale))
