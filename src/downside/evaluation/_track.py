"""Track-record figures: rolling skill against the best baseline, and rolling calibration.

Drawn on matplotlib's Agg canvas directly (no pyplot, no global backend change).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from downside.errors import ModelInputError, Problem

ROLLING_FIGURE_COLUMNS = ("target", "date", "skill", "skill_lower", "skill_upper", "ece")


def rolling_chart(rolling: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Rolling joint skill against the best baseline (with its interval) and the rolling
    ECE, one line per target, over the window end dates.

    Args:
        rolling: :data:`downside.workflows.ROLLING_COLUMNS` rows.
        path: the PNG to write (parent folders are created).
        title: figure title.

    Raises:
        ModelInputError: missing columns or no rows.
    """
    missing = [c for c in ROLLING_FIGURE_COLUMNS if c not in rolling.columns]
    if missing or rolling.empty:
        raise ModelInputError(
            [
                Problem(
                    "rolling",
                    "missing_columns" if missing else "empty",
                    len(missing),
                    f"expected rows with columns {list(ROLLING_FIGURE_COLUMNS)}",
                    tuple(missing),
                )
            ]
        )
    fig = Figure(figsize=(9.0, 5.5), dpi=110)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    for target, part in rolling.groupby("target", sort=True):
        dates = pd.DatetimeIndex(part["date"]).tz_convert("UTC").tz_localize(None)
        skill = 100 * part["skill"].to_numpy(dtype=np.float64)
        top.plot(dates, skill, marker="o", markersize=3, label=str(target))
        top.fill_between(
            dates,
            100 * part["skill_lower"].to_numpy(dtype=np.float64),
            100 * part["skill_upper"].to_numpy(dtype=np.float64),
            alpha=0.2,
        )
        bottom.plot(dates, part["ece"].to_numpy(dtype=np.float64), marker="o", markersize=3)
    top.axhline(0.0, color="black", linewidth=0.8)
    top.set_ylabel("joint skill vs best baseline, %")
    top.legend(loc="best", fontsize="small")
    top.set_title(title)
    bottom.set_ylabel("ECE")
    bottom.set_ylim(bottom=0.0)
    fig.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
