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
