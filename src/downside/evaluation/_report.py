"""Backtest report files: metrics tables, reliability diagrams and a Markdown summary."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from downside.errors import InvalidNameError, ModelInputError, Problem
from downside.evaluation._metrics import RELIABILITY_COLUMNS

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def _check_tables(tables: Mapping[str, pd.DataFrame]) -> None:
    problems: list[Problem] = []
    if not tables:
        problems.append(Problem("tables", "empty", 0, "expected at least one reliability table"))
    for name, table in tables.items():
        missing = [c for c in RELIABILITY_COLUMNS if c not in table.columns]
        if missing:
            problems.append(
                Problem(
                    f"tables[{name!r}]",
                    "missing_columns",
                    len(missing),
                    f"expected the columns of reliability_table(), missing {missing}",
                    tuple(missing),
                )
            )
    if problems:
        raise ModelInputError(problems)


def reliability_diagram(
    tables: Mapping[str, pd.DataFrame], path: Path, *, title: str = "Reliability"
) -> Path:
    """Draw observed rate against mean prediction for several models into one PNG.

    Drawn with matplotlib's Agg canvas directly (no pyplot, no global backend change).

    Marker area grows with the rows per bin; the dashed diagonal is perfect calibration.

    Args:
        tables: model name to its :func:`reliability_table`.
        path: the PNG file to write (parent folders are created).
        title: plot title.

    Returns:
        ``path``.

    Raises:
        ModelInputError: no tables, or a table without the reliability columns.
    """
    _check_tables(tables)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(5.5, 5.0), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="grey", linewidth=1.0)
    for name, table in tables.items():
        counts = table["count"].to_numpy(dtype=np.float64)
        sizes = 12.0 + 120.0 * counts / max(float(counts.max(initial=1.0)), 1.0)
        ax.plot(table["mean_predicted"], table["observed_rate"], linewidth=1.0, label=name)
        ax.scatter(table["mean_predicted"], table["observed_rate"], s=sizes, alpha=0.6)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed event rate")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _slug(name: str) -> str:
    slug = _SLUG.sub("_", name).strip("._")
    if not slug:
        raise InvalidNameError("model", name, "a name with at least one letter or digit")
    return slug


def write_backtest_report(
    out_dir: Path,
    metrics: pd.DataFrame,
    reliability: Mapping[str, pd.DataFrame],
    summary_md: str,
) -> list[Path]:
    """Write a backtest report folder.

    Files: ``metrics.csv`` and ``metrics.json`` (the same table; NaN becomes JSON
    ``null``), ``reliability.png`` (all models), ``reliability_<model>.png`` (one per
    model) and ``summary.md``. Existing files of these names are replaced.

    Args:
        out_dir: the folder (created if absent).
        metrics: a metrics table, e.g. from :func:`breakdown`.
        reliability: model name to its :func:`reliability_table`.
        summary_md: the Markdown summary text.

    Returns:
        The written paths, in the order listed above.

    Raises:
        ModelInputError: an empty metrics table or invalid reliability tables.
        InvalidNameError: a model name with no letter or digit to name its file.
    """
    if metrics.empty:
        raise ModelInputError(
            [Problem("metrics", "empty", 0, "expected a metrics table with rows, received none")]
        )
    _check_tables(reliability)
    slugs = {name: _slug(name) for name in reliability}
    if len(set(slugs.values())) < len(slugs):
        raise InvalidNameError(
            "model", sorted(reliability), f"names that stay distinct as file names ({slugs})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "metrics.csv"
    metrics.to_csv(csv_path, index=False)
    json_path = out_dir / "metrics.json"
    records = json.loads(metrics.to_json(orient="records", double_precision=15))
    json_path.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    written = [csv_path, json_path]
    written.append(reliability_diagram(reliability, out_dir / "reliability.png"))
    for name, table in reliability.items():
        target = out_dir / f"reliability_{slugs[name]}.png"
        written.append(reliability_diagram({name: table}, target, title=f"Reliability: {name}"))
    summary_path = out_dir / "summary.md"
    summary_path.write_text(
        summary_md if summary_md.endswith("\n") else summary_md + "\n", encoding="utf-8"
    )
    written.append(summary_path)
    return written


def skill_chart(skill: pd.DataFrame, path: Path, *, title: str = "Brier skill by horizon") -> Path:
    """Bars of Brier skill per horizon and baseline, with their interval as error bars.

    Args:
        skill: rows with ``horizon_days``, ``baseline``, ``skill``, ``skill_lower``,
            ``skill_upper`` (one per horizon and baseline).
        path: the PNG file to write (parent folders are created).
        title: plot title.

    Returns:
        ``path``.

    Raises:
        ModelInputError: missing columns or no rows.
    """
    needed = ["horizon_days", "baseline", "skill", "skill_lower", "skill_upper"]
    missing = [c for c in needed if c not in skill.columns]
    if missing or skill.empty:
        raise ModelInputError(
            [
                Problem(
                    "skill",
                    "missing_columns" if missing else "empty",
                    len(missing),
                    f"expected rows with columns {needed}, missing {missing}",
                    tuple(missing),
                )
            ]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    horizons = sorted(skill["horizon_days"].unique())
    baselines = list(dict.fromkeys(skill["baseline"]))
    fig = Figure(figsize=(7.0, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    width = 0.8 / max(len(baselines), 1)
    x = np.arange(len(horizons), dtype=np.float64)
    for k, name in enumerate(baselines):
        rows = skill[skill["baseline"] == name].set_index("horizon_days").reindex(horizons)
        est = rows["skill"].to_numpy(dtype=np.float64)
        err = np.vstack(
            [
                est - rows["skill_lower"].to_numpy(dtype=np.float64),
                rows["skill_upper"].to_numpy(dtype=np.float64) - est,
            ]
        )
        ax.bar(x + (k - (len(baselines) - 1) / 2) * width, est, width, yerr=err, label=name)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, [f"{h:g}d" for h in horizons])
    ax.set_xlabel("horizon")
    ax.set_ylabel("Brier skill of the model vs baseline")
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def fold_chart(folds: pd.DataFrame, path: Path, *, title: str = "Brier per fold") -> Path:
    """Brier of each model per walk-forward fold (columns ``brier_<model>``) over time.

    Raises:
        ModelInputError: no ``test_start`` or no ``brier_`` column, or no rows.
    """
    cols = [c for c in folds.columns if str(c).startswith("brier_")]
    if "test_start" not in folds.columns or not cols or folds.empty:
        raise ModelInputError(
            [
                Problem(
                    "folds",
                    "missing_columns",
                    1,
                    "expected rows with test_start and brier_<model> columns, received "
                    f"{list(folds.columns)}",
                )
            ]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(7.0, 4.0), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    when = pd.to_datetime(folds["test_start"]).dt.tz_localize(None)
    for col in cols:
        ax.plot(when, folds[col], marker="o", linewidth=1.2, label=str(col)[len("brier_") :])
    ax.set_xlabel("start of test window")
    ax.set_ylabel("Brier score (lower is better)")
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
