"""Metrics per group of rows, and the monotonicity check of a drawdown surface."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from downside.errors import ModelInputError, Problem
from downside.evaluation._checks import check_probabilities_and_labels
from downside.evaluation._metrics import brier_score, expected_calibration_error, log_loss

VOL_REGIME = "vol_regime"
"""Name of the derived grouping column: terciles of ``sigma_daily`` (low, mid, high)."""

BREAKDOWN_METRICS: tuple[str, ...] = (
    "n",
    "events",
    "event_rate",
    "brier",
    "log_loss",
    "ece",
    "brier_skill",
)


def volatility_regime(sigma: pd.Series) -> pd.Series:
    """Tercile of volatility per row: ``low``, ``mid`` or ``high`` (ties split by order).

    Args:
        sigma: daily volatility per row.

    Returns:
        An ordered categorical series aligned with ``sigma``.

    Raises:
        ModelInputError: missing or non-finite volatilities (every row needs a regime).
    """
    values = sigma.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ModelInputError(
            [
                Problem(
                    str(sigma.name),
                    "non_finite",
                    int(bad.sum()),
                    "expected a finite volatility on every row to assign a regime",
                )
            ]
        )
    ranks = sigma.rank(method="first")
    labels = ["low", "mid", "high"][: min(3, len(sigma))]
    regime = pd.qcut(ranks, len(labels), labels=labels)
    return regime.rename(VOL_REGIME)


def breakdown(
    frame: pd.DataFrame,
    p_cols: Sequence[str],
    by: Sequence[str] = ("threshold", "horizon_days"),
    *,
    label_col: str = "label",
    ref_col: str | None = None,
    n_bins: int = 10,
) -> pd.DataFrame:
    """Scores of several probability columns per group of rows, in long format.

    Args:
        frame: one row per forecast with the label, the probability columns and the
            grouping columns (``threshold``, ``horizon_days``, ``symbol``, ...). The group
            ``vol_regime`` is derived from ``sigma_daily`` terciles when the frame has no
            such column. An empty ``by`` gives one overall row per model.
        p_cols: the probability columns to score (one per model).
        by: grouping columns. Rows with a missing group value form their own group.
        label_col: the outcome column (0/1).
        ref_col: a reference probability column for the Brier skill score; without it
            ``brier_skill`` is NaN.
        n_bins: quantile bins of the per-group ECE.

    Returns:
        One row per (group, model) with the group columns, ``model`` and the columns
        ``n, events, event_rate, brier, log_loss, ece, brier_skill``.

    Raises:
        ModelInputError: missing columns, invalid probabilities or labels.
    """
    problems: list[Problem] = []
    needed = [*p_cols, label_col, *([ref_col] if ref_col else [])]
    needed += [c for c in by if c != VOL_REGIME or "sigma_daily" not in frame.columns]
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        problems.append(
            Problem(
                "frame",
                "missing_columns",
                len(missing),
                f"expected columns {missing} (vol_regime can be derived from sigma_daily)",
                tuple(missing),
            )
        )
    if not p_cols:
        problems.append(Problem("p_cols", "empty", 0, "expected at least one probability column"))
    if problems:
        raise ModelInputError(problems)
    probs = {c: frame[c] for c in [*p_cols, *([ref_col] if ref_col else [])]}
    check_probabilities_and_labels(probs, frame[label_col])

    data = frame
    if VOL_REGIME in by and VOL_REGIME not in frame.columns:
        data = frame.assign(**{VOL_REGIME: volatility_regime(frame["sigma_daily"])})
    keys = list(by)
    groups = data.groupby(keys, dropna=False, observed=True, sort=True) if keys else [((), data)]
    records: list[dict[str, object]] = []
    for key, group in groups:
        key_values = key if isinstance(key, tuple) else (key,)
        y = group[label_col].to_numpy(dtype=np.float64)
        ref_brier = brier_score(group[ref_col], y) if ref_col else float("nan")
        for col in p_cols:
            p = group[col].to_numpy(dtype=np.float64)
            brier = brier_score(p, y)
            skill = 1.0 - brier / ref_brier if ref_col and ref_brier > 0.0 else float("nan")
            records.append(
                {
                    **dict(zip(keys, key_values, strict=True)),
                    "model": col,
                    "n": int(y.size),
                    "events": int(y.sum()),
                    "event_rate": float(y.mean()),
                    "brier": brier,
                    "log_loss": log_loss(p, y),
                    "ece": expected_calibration_error(p, y, n_bins),
                    "brier_skill": skill,
                }
            )
    return pd.DataFrame.from_records(records, columns=[*keys, "model", *BREAKDOWN_METRICS])


def grid_frame(
    base_rows: pd.DataFrame,
    thresholds_grid: npt.ArrayLike,
    horizons_grid: npt.ArrayLike,
) -> pd.DataFrame:
    """Every base row repeated over the (threshold, horizon) grid, row-major.

    Rows come in the order (base row, threshold, horizon). ``threshold`` and
    ``horizon_days`` are replaced; when the base rows have ``sigma_daily``,
    ``z_distance`` is recomputed per the datasets contract
    ``ln(1 - threshold) / (sigma_daily * sqrt(horizon_days))``.

    Raises:
        ModelInputError: empty grids, thresholds outside (0, 1), horizons <= 0.
    """
    x = np.asarray(thresholds_grid, dtype=np.float64)
    h = np.asarray(horizons_grid)
    problems: list[Problem] = []
    if x.size == 0 or h.size == 0 or len(base_rows) == 0:
        problems.append(
            Problem(
                "grid",
                "empty",
                0,
                f"expected non-empty grids and base rows, received {x.size} thresholds, "
                f"{h.size} horizons, {len(base_rows)} rows",
            )
        )
    if ((x <= 0.0) | (x >= 1.0)).any():
        problems.append(
            Problem(
                "thresholds_grid",
                "out_of_range",
                int(((x <= 0) | (x >= 1)).sum()),
                "expected thresholds in (0, 1)",
            )
        )
    if (h.astype(np.float64) <= 0.0).any():
        problems.append(
            Problem(
                "horizons_grid", "out_of_range", int((h <= 0).sum()), "expected horizons > 0 days"
            )
        )
    if problems:
        raise ModelInputError(problems)
    n, nx, nh = len(base_rows), x.size, h.size
    frame = base_rows.iloc[np.repeat(np.arange(n), nx * nh)].reset_index(drop=True)
    frame["threshold"] = np.tile(np.repeat(x, nh), n)
    frame["horizon_days"] = np.tile(h, n * nx)
    if "sigma_daily" in frame.columns:
        sigma = frame["sigma_daily"].to_numpy(dtype=np.float64)
        horizon = frame["horizon_days"].to_numpy(dtype=np.float64)
        frame["z_distance"] = np.log1p(-frame["threshold"].to_numpy()) / (sigma * np.sqrt(horizon))
    return frame


def monotonicity_violations(
    predict_fn: Callable[[pd.DataFrame], npt.ArrayLike],
    base_rows: pd.DataFrame,
    thresholds_grid: npt.ArrayLike,
    horizons_grid: npt.ArrayLike,
    *,
    tol: float = 1e-12,
) -> int:
    """Count adjacent grid pairs where P(drawdown) rises with X or falls with H.

    Each base row is expanded over the dense grid (see :func:`grid_frame`); with
    sorted grids, a violation is a pair of neighbours where the probability rises by
    more than ``tol`` when the threshold grows, or falls by more than ``tol`` when the
    horizon grows.

    Args:
        predict_fn: maps a frame to P(event) per row (e.g. ``lambda f: m.predict_proba(f)[:, 1]``).
        base_rows: the rows to expand: features, ``sigma_daily``, other columns.
        thresholds_grid: drawdown thresholds, strictly increasing, in (0, 1).
        horizons_grid: horizons in days, strictly increasing.
        tol: size of a change that counts as a violation.

    Returns:
        The number of violating adjacent pairs (0 for a monotone surface).

    Raises:
        ModelInputError: unsorted or invalid grids, or ``predict_fn`` returning the
            wrong number of values.
    """
    x = np.asarray(thresholds_grid, dtype=np.float64)
    h = np.asarray(horizons_grid, dtype=np.float64)
    problems: list[Problem] = []
    for name, grid in (("thresholds_grid", x), ("horizons_grid", h)):
        if grid.size > 1 and not (np.diff(grid) > 0).all():
            problems.append(
                Problem(name, "not_increasing", 1, "expected a strictly increasing grid")
            )
    if problems:
        raise ModelInputError(problems)
    frame = grid_frame(base_rows, thresholds_grid, horizons_grid)
    p = np.asarray(predict_fn(frame), dtype=np.float64)
    if p.shape != (len(frame),):
        raise ModelInputError(
            [
                Problem(
                    "predict_fn",
                    "wrong_shape",
                    1,
                    f"expected {len(frame)} probabilities, received shape {p.shape}",
                )
            ]
        )
    surface = p.reshape(len(base_rows), x.size, h.size)
    rises_with_x = np.diff(surface, axis=1) > tol
    falls_with_h = np.diff(surface, axis=2) < -tol
    return int(rises_with_x.sum() + falls_with_h.sum())
