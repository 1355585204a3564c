"""Training frames: features joined with labels, stacked over the query grid.

A drawdown frame has one row per (symbol, asof, threshold, horizon); a support frame one
row per (symbol, asof, level, horizon). Rows whose label is not known yet keep
``label`` NaN: drop them for training with :func:`labelled`, keep them for prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from downside.errors import Problem, SchemaError
from downside.targets import (
    DEFAULT_BREAK_RULE,
    DEFAULT_HORIZONS_DAYS,
    DEFAULT_SUPPORT_CONFIG,
    DEFAULT_THRESHOLDS,
    BreakRule,
    Freq,
    SupportConfig,
    check_keys,
    detect_supports,
    drawdown_labels,
    level_features,
    reference,
    support_break_labels,
)
from downside.vocabulary import FEATURE_NAME

DRAWDOWN_COLUMNS = (
    "symbol",
    "asof",
    "threshold",
    "horizon_days",
    "z_distance",
    "sigma_daily",
    "sigma_parkinson",
)
SUPPORT_COLUMNS = (
    "symbol",
    "asof",
    "level",
    "level_type",
    "horizon_days",
    "ref_close",
    "distance_pct",
    "distance_vol",
    "z_distance",
    "touches",
    "age_days",
    "sigma_daily",
    "sigma_parkinson",
)
LABEL_COLUMNS = ("label", "label_end")


def _features(features: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    source = "features"
    keys = ["symbol", "asof"]
    missing = [c for c in keys if c not in features.columns]
    names = [str(c) for c in features.columns if c not in keys]
    bad = [n for n in names if not FEATURE_NAME.fullmatch(n)]
    problems: list[Problem] = []
    if missing:
        problems.append(
            Problem(
                source,
                "missing_columns",
                len(missing),
                f"expected key columns symbol, asof; missing {', '.join(missing)}",
            )
        )
    if bad:
        problems.append(
            Problem(
                source,
                "bad_feature_names",
                len(bad),
                "feature columns must be named <family>.<name> (e.g. leverage.oi_change_7d) "
                "so they cannot collide with the frame's own columns; rename or drop them",
                tuple(bad),
            )
        )
    if problems:
        raise SchemaError(problems)
    return check_keys(features, source), names


def _z(log_ratio: np.ndarray, sigma: np.ndarray, horizon_days: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = log_ratio / (sigma * np.sqrt(horizon_days))
    return out


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose label is known (for training and scoring), with a fresh index.

    Raises:
        SchemaError: ``frame`` has no ``label`` column.
    """
    if "label" not in frame.columns:
        raise SchemaError(
            [
                Problem(
                    "frame",
                    "missing_columns",
                    1,
                    "expected a 'label' column (a frame from drawdown_frame or support_frame); "
                    f"received columns {', '.join(map(str, frame.columns))}",
                )
            ]
        )
    return frame[frame["label"].notna()].reset_index(drop=True)


def drawdown_frame(
    features: pd.DataFrame,
    prices: pd.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    horizons_days: Sequence[float] = DEFAULT_HORIZONS_DAYS,
    *,
    freq: Freq = "1d",
) -> pd.DataFrame:
    """The drawdown training frame: features stacked over (threshold, horizon).

    ``sigma_daily`` is the EWMA volatility known at ``asof`` (``sigma_parkinson`` the
    range-based one, for the baselines) and
    ``z_distance = ln(1 - threshold) / (sigma_daily * sqrt(horizon_days))``: negative,
    closer to 0 meaning the drawdown is more likely.

    Args:
        features: ``symbol, asof`` plus feature columns named ``<family>.<name>``.
        prices: price frame as returned by ``Store.prices(freq, ...)``.
        thresholds: drawdown fractions.
        horizons_days: horizons in days.
        freq: bar frequency of ``prices``.

    Returns:
        ``symbol, asof, threshold, horizon_days, z_distance, sigma_daily, <features>,
        label, label_end`` sorted by symbol, asof, threshold and horizon; ``label`` is NaN
        where the outcome is not known yet.

    Raises:
        SchemaError: invalid features or prices, feature columns not named
            ``<family>.<name>``, or symbols without prices.
        ConfigError: invalid thresholds, horizons or frequency.
    """
    feats, names = _features(features)
    spine = feats[["symbol", "asof"]]
    labels = drawdown_labels(prices, spine, thresholds, horizons_days, freq=freq)
    sigma = reference(prices, spine)[["symbol", "asof", "sigma_ewma", "sigma_parkinson"]]
    frame = labels.merge(sigma, on=["symbol", "asof"], how="left", validate="many_to_one")
    frame = frame.merge(feats, on=["symbol", "asof"], how="left", validate="many_to_one")
    frame["sigma_daily"] = frame["sigma_ewma"]
    frame["z_distance"] = _z(
        np.log1p(-frame["threshold"].to_numpy(dtype="float64")),
        frame["sigma_daily"].to_numpy(dtype="float64"),
        frame["horizon_days"].to_numpy(dtype="float64"),
    )
    return frame[[*DRAWDOWN_COLUMNS, *names, *LABEL_COLUMNS]]


def support_frame(
    features: pd.DataFrame,
    prices: pd.DataFrame,
    rows: pd.DataFrame | None = None,
    horizons_days: Sequence[float] = DEFAULT_HORIZONS_DAYS,
    rule: BreakRule = DEFAULT_BREAK_RULE,
    *,
    config: SupportConfig = DEFAULT_SUPPORT_CONFIG,
    freq: Freq = "1d",
) -> pd.DataFrame:
    """The support-break training frame: features stacked over (level, horizon).

    ``z_distance = ln(level / ref_close) / (sigma_daily * sqrt(horizon_days))``
    (negative; closer to 0 means a break is more likely).

    Args:
        features: ``symbol, asof`` plus feature columns named ``<family>.<name>``.
        prices: price frame as returned by ``Store.prices(freq, ...)``.
        rows: user levels ``symbol, asof, level`` (each ``symbol, asof`` must be in
            ``features``); None detects supports at every feature row.
        horizons_days: horizons in days.
        rule: when a level counts as broken.
        config: support detection and touch settings.
        freq: bar frequency of ``prices``.

    Returns:
        ``symbol, asof, level, level_type, horizon_days, ref_close, distance_pct,
        distance_vol, z_distance, touches, age_days, sigma_daily, <features>, label,
        label_end`` sorted by symbol, asof, level (nearest first) and horizon.

    Raises:
        SchemaError: invalid inputs, badly named feature columns, or level rows whose
            ``symbol, asof`` has no feature row.
        PredictionInputError: a user level is not below the reference close.
        ConfigError: invalid horizons or frequency.
    """
    feats, names = _features(features)
    spine = feats[["symbol", "asof"]]
    if rows is None:
        levels = detect_supports(prices, spine, config)
    else:
        levels = level_features(prices, rows, config=config)
        known = pd.MultiIndex.from_frame(spine)
        wanted = pd.MultiIndex.from_frame(levels[["symbol", "asof"]])
        absent = ~wanted.isin(known)
        if absent.any():
            raise SchemaError(
                [
                    Problem(
                        "rows",
                        "rows_without_features",
                        int(absent.sum()),
                        "every level row needs a feature row with the same symbol and asof; "
                        "add those as-of times to the features or drop the levels",
                        tuple(f"{s} {a}" for s, a in wanted[absent][:3]),
                    )
                ]
            )
    labels = support_break_labels(
        prices, levels[["symbol", "asof", "level"]], horizons_days, rule, freq=freq
    )
    sigma = reference(prices, spine)[["symbol", "asof", "sigma_ewma", "sigma_parkinson"]]
    frame = levels.merge(labels, on=["symbol", "asof", "level"], how="left", validate="1:m")
    frame = frame.merge(sigma, on=["symbol", "asof"], how="left", validate="many_to_one")
    frame = frame.merge(feats, on=["symbol", "asof"], how="left", validate="many_to_one")
    frame["sigma_daily"] = frame["sigma_ewma"]
    frame["z_distance"] = _z(
        np.log(frame["level"].to_numpy(dtype="float64") / frame["ref_close"].to_numpy("float64")),
        frame["sigma_daily"].to_numpy(dtype="float64"),
        frame["horizon_days"].to_numpy(dtype="float64"),
    )
    frame = frame.sort_values(
        ["symbol", "asof", "level", "horizon_days"],
        ascending=[True, True, False, True],
        kind="stable",
    ).reset_index(drop=True)
    return frame[[*SUPPORT_COLUMNS, *names, *LABEL_COLUMNS]]
