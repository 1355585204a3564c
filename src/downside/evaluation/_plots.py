"""Risk-report figures and the HTML page that shows them.

Every figure is drawn on matplotlib's Agg canvas directly (no pyplot, no global backend
change) and written as a PNG; the functions take plain frames, so they know nothing of
models or registries. :func:`write_html_report` puts the figures and tables on one
self-contained page (images referenced by relative path).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from downside.errors import ModelInputError, Problem

FAMILY_COLORS = {
    "leverage": "#c0392b",
    "funding": "#e67e22",
    "etf_flows": "#2980b9",
    "rates": "#8e44ad",
    "technical": "#7f8c8d",
    "drivers_vol": "#16a085",
}
"""Colour of each driver family in every figure."""

_US_PER_DAY = 86_400_000_000


def _require(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    problems = []
    if missing:
        problems.append(
            Problem(
                source,
                "missing_columns",
                len(missing),
                f"expected columns {list(columns)}, missing {missing}",
                tuple(missing),
            )
        )
    elif frame.empty:
        problems.append(Problem(source, "empty", 0, "expected at least one row"))
    if problems:
        raise ModelInputError(problems)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def surface_heatmap(surface: pd.DataFrame, path: Path, *, title: str) -> Path:
    """P(drawdown) over thresholds (rows) and horizons (columns), annotated in percent.

    Args:
        surface: ``threshold`` (fraction), ``horizon_days`` and ``probability`` rows of
            one symbol and as-of time.
        path: the PNG to write.
        title: figure title.

    Raises:
        ModelInputError: missing columns or no rows.
    """
    _require(surface, ("threshold", "horizon_days", "probability"), "surface")
    grid = surface.pivot_table(index="threshold", columns="horizon_days", values="probability")
    values = grid.to_numpy(dtype=np.float64)
    fig = _figure(6.4, 4.2)
    ax = fig.subplots()
    image = ax.imshow(values * 100.0, cmap="Reds", vmin=0.0, aspect="auto", origin="upper")
    ax.set_xticks(range(grid.shape[1]), [f"{h:g}d" for h in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f">= {100 * t:g}%" for t in grid.index])
    ax.set_xlabel("horizon")
    ax.set_ylabel("drawdown below the last close")
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            color = "white" if v > 0.6 * top else "black"
            ax.text(j, i, f"{100 * v:.1f}%", ha="center", va="center", color=color, fontsize=9)
    fig.colorbar(image, ax=ax, label="probability (%)")
    ax.set_title(title)
    return _save(fig, path)


def realized_drawdown(prices: pd.DataFrame, asof: pd.Series, horizon_days: float) -> pd.Series:
    """Deepest fall below the reference close within ``horizon_days`` after each as-of
    time, as a negative fraction, from daily bars.

    Uses the windows of :mod:`downside.targets` labels: the reference close is the last
    bar known at ``asof``; the window holds the bars with ``event_ts >= asof`` and
    ``available_ts <= asof + horizon``; the lowest price of a bar is ``min(low, close)``.
    NaN where the window is not complete in ``prices``.

    Args:
        prices: one symbol's bars: ``event_ts``, ``available_ts``, ``low``, ``close``.
        asof: as-of times (UTC).
        horizon_days: window length in days.

    Raises:
        ModelInputError: missing columns or no bars.
    """
    _require(prices, ("event_ts", "available_ts", "low", "close"), "prices")
    bars = prices.sort_values("event_ts", kind="stable")
    event = np.asarray(bars["event_ts"].to_numpy(dtype="datetime64[us]").view("int64"))
    avail = np.asarray(bars["available_ts"].to_numpy(dtype="datetime64[us]").view("int64"))
    close = bars["close"].to_numpy(dtype=np.float64)
    low = np.fmin(bars["low"].to_numpy(dtype=np.float64), close)
    times = np.asarray(
        pd.to_datetime(asof, utc=True).to_numpy(dtype="datetime64[us]").view("int64")
    )
    horizon = round(horizon_days * _US_PER_DAY)
    out = np.full(len(times), np.nan)
    for i, t in enumerate(times):
        ref = np.searchsorted(avail, t, side="right") - 1
        first = np.searchsorted(event, t, side="left")
        last = np.searchsorted(avail, t + horizon, side="right")
        if ref < 0 or last <= first or avail[-1] < t + horizon:
            continue
        out[i] = float(low[first:last].min() / close[ref] - 1.0)
    return pd.Series(out, index=asof.index, name="realized_drawdown")


def drawdown_history(
    history: pd.DataFrame,
    path: Path,
    *,
    threshold: float,
    horizon_days: float,
    title: str,
    trained_until: pd.Timestamp | None = None,
) -> Path:
    """P(drawdown >= threshold within the horizon) over time against what happened.

    Args:
        history: ``asof``, ``probability``, ``baseline_probability`` and
            ``realized_drawdown`` (negative fraction, NaN where not known yet).
        path: the PNG to write.
        threshold: the drawdown threshold (fraction) of the probabilities.
        horizon_days: their horizon.
        title: figure title.
        trained_until: last time of the data the model was trained on; a dotted line
            marks it (forecasts before it are in-sample fits).

    Raises:
        ModelInputError: missing columns or no rows.
    """
    _require(
        history,
        ("asof", "probability", "baseline_probability", "realized_drawdown"),
        "history",
    )
    fig = _figure(9.0, 5.2)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    times = pd.to_datetime(history["asof"], utc=True).dt.tz_localize(None)
    top.plot(times, 100 * history["probability"], color="#c0392b", label="model")
    top.plot(
        times,
        100 * history["baseline_probability"],
        color="grey",
        linestyle="--",
        linewidth=1.0,
        label="volatility baseline",
    )
    hit = history["realized_drawdown"] <= -threshold
    top.scatter(
        times[hit],
        100 * history.loc[hit, "probability"],
        color="black",
        s=14,
        zorder=3,
        label=f"a >= {100 * threshold:g}% drawdown followed",
    )
    if trained_until is not None and times.min() <= trained_until.tz_localize(None):
        cut = trained_until.tz_localize(None)
        for ax in (top, bottom):
            ax.axvline(cut, color="#2c3e50", linestyle=":", linewidth=1.2)
        top.annotate(
            "training data ends",
            (cut, 1.0),
            xycoords=("data", "axes fraction"),
            ha="right",
            va="top",
            fontsize=8,
        )
    top.set_ylabel(f"P(>= {100 * threshold:g}% in {horizon_days:g}d), %")
    top.legend(loc="upper left", fontsize="small")
    top.set_title(title)
    realized = 100 * history["realized_drawdown"]
    bottom.fill_between(times, realized, 0.0, color="#34495e", alpha=0.5, step="mid")
    bottom.axhline(-100 * threshold, color="#c0392b", linestyle=":", linewidth=1.0)
    bottom.set_ylabel(f"realized {horizon_days:g}d drawdown, %")
    bottom.set_xlabel("as-of time (UTC)")
    return _save(fig, path)


def support_chart(
    prices: pd.DataFrame,
    supports: pd.DataFrame,
    path: Path,
    *,
    horizon_days: float,
    title: str,
) -> Path:
    """Daily closes with each support level and its P(break within the horizon).

    Args:
        prices: one symbol's bars: ``event_ts``, ``close`` (and ``low``, ``high``).
        supports: ``level``, ``level_type``, ``horizon_days``, ``probability`` at one
            as-of time; rows of other horizons are ignored.
        path: the PNG to write.
        horizon_days: which horizon's probabilities label the levels.
        title: figure title.

    Raises:
        ModelInputError: missing columns or no rows.
    """
    _require(prices, ("event_ts", "close"), "prices")
    _require(supports, ("level", "level_type", "horizon_days", "probability"), "supports")
    fig = _figure(9.0, 4.8)
    ax = fig.subplots()
    times = pd.to_datetime(prices["event_ts"], utc=True).dt.tz_localize(None)
    if {"low", "high"} <= set(prices.columns):
        ax.fill_between(
            times, prices["low"], prices["high"], color="#bdc3c7", alpha=0.6, linewidth=0
        )
    ax.plot(times, prices["close"], color="black", linewidth=1.0, label="close")
    rows = supports[np.isclose(supports["horizon_days"], horizon_days)]
    for level, level_type, p in zip(
        rows["level"].to_numpy(dtype=np.float64),
        rows["level_type"].astype(str),
        rows["probability"].to_numpy(dtype=np.float64),
        strict=True,
    ):
        color = (min(1.0, 0.3 + float(p)), 0.2, 0.2)
        ax.axhline(float(level), color=color, linewidth=1.0 + 3.0 * float(p), alpha=0.8)
        ax.text(
            1.0,
            float(level),
            f" {level:,.0f} {level_type}: {100 * p:.0f}%",
            va="center",
            fontsize=8,
            color=color,
            transform=ax.get_yaxis_transform(),
        )
    ax.set_ylabel("price")
    ax.set_title(f"{title} (P(break within {horizon_days:g}d) at each level)")
    ax.margins(x=0.12)
    return _save(fig, path)


def contribution_bars(
    rows: pd.DataFrame, path: Path, *, label: str, families: Sequence[str], title: str
) -> Path:
    """Horizontal stacked bars of the driver-family points of a few forecasts.

    Args:
        rows: one row per forecast with a ``label`` column, the family columns
            (probability points), ``p_reference`` and ``probability``.
        path: the PNG to write.
        label: the column naming each bar.
        families: family columns, in stacking order.
        title: figure title.

    Raises:
        ModelInputError: missing columns or no rows.
    """
    _require(rows, (label, "p_reference", "probability", *families), "contributions")
    fig = _figure(9.0, 1.2 + 0.5 * len(rows))
    ax = fig.subplots()
    y = np.arange(len(rows))
    left_pos = np.zeros(len(rows))
    left_neg = np.zeros(len(rows))
    for family in families:
        points = 100 * rows[family].to_numpy(dtype=np.float64)
        start = np.where(points >= 0, left_pos, left_neg)
        ax.barh(y, points, left=start, color=FAMILY_COLORS.get(family, "#95a5a6"), label=family)
        left_pos += np.where(points >= 0, points, 0.0)
        left_neg += np.where(points < 0, points, 0.0)
    names = [
        f"{lab}  (ref {100 * r:.1f}% -> {100 * p:.1f}%)"
        for lab, r, p in zip(rows[label], rows["p_reference"], rows["probability"], strict=True)
    ]
    ax.set_yticks(y, names)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("probability points added by each driver family")
    ax.legend(loc="lower right", fontsize="small", ncol=len(families))
    ax.set_title(title)
    return _save(fig, path)


@dataclass(frozen=True)
class ReportSection:
    """One section of the HTML report: a heading, text, an optional image and table."""

    heading: str
    text: str = ""
    image: Path | None = None
    table: pd.DataFrame | None = None


def _table_html(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html_report(
    out_dir: Path, title: str, intro: str, sections: Sequence[ReportSection]
) -> Path:
    """Write ``index.html`` in ``out_dir`` showing the sections in order.

    Images must lie in ``out_dir`` (they are referenced by relative path).

    Raises:
        ModelInputError: an image outside ``out_dir`` or missing.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = [
        Problem(
            "sections",
            "bad_image",
            1,
            f"image {s.image} must exist inside {out_dir}",
        )
        for s in sections
        if s.image is not None
        and (not s.image.is_file() or s.image.resolve().parent != out_dir.resolve())
    ]
    if problems:
        raise ModelInputError(problems)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;"
        "padding:2px 8px;text-align:right}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(intro)}</p>",
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.heading)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        if section.image is not None:
            alt = html.escape(section.heading)
            parts.append(f'<img src="{html.escape(section.image.name)}" alt="{alt}">')
        if section.table is not None:
            parts.append(_table_html(section.table))
    parts.append("</body></html>")
    path = out_dir / "index.html"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path
