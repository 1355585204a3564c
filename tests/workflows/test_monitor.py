"""Monitoring decisions on given numbers: calibration decay against the limits."""

from __future__ import annotations

import pandas as pd

from downside.workflows import (
    ROLLING_COLUMNS,
    Evaluation,
    MonitorLimits,
    calibration_table,
)


def _evaluation(rows: list[dict[str, object]]) -> Evaluation:
    rolling = pd.DataFrame.from_records(rows, columns=list(ROLLING_COLUMNS))
    empty = pd.DataFrame()
    return Evaluation(rows=empty, scores=empty, summary=empty, rolling=rolling)


def _row(
    target: str, day: str, skill: tuple[float, float, float], ece: float, days: int = 30
) -> dict[str, object]:
    return {
        "target": target,
        "date": pd.Timestamp(day, tz="UTC"),
        "days": days,
        "n": 1500,
        "event_rate": 0.1,
        "mean_forecast": 0.1,
        "reference": "gbm_ewma",
        "skill": skill[0],
        "skill_lower": skill[1],
        "skill_upper": skill[2],
        "ece": ece,
    }


def test_only_the_latest_window_of_each_target_is_judged() -> None:
    evaluation = _evaluation(
        [
            _row("drawdown", "2024-01-01", (-0.3, -0.5, -0.1), 0.01),
            _row("drawdown", "2024-02-01", (0.02, -0.05, 0.08), 0.02),
            _row("support", "2024-02-01", (-0.2, -0.3, -0.1), 0.02),
        ]
    )
    table = calibration_table(evaluation, MonitorLimits()).set_index("target")
    assert not table.loc["drawdown", "decay"]  # the bad window is not the latest
    assert table.loc["support", "decay"]  # the whole interval below 0


def test_calibration_error_and_thin_windows() -> None:
    evaluation = _evaluation(
        [
            _row("drawdown", "2024-02-01", (0.05, 0.01, 0.1), 0.2),
            _row("support", "2024-02-01", (-0.5, -0.6, -0.4), 0.3, days=5),
        ]
    )
    table = calibration_table(evaluation, MonitorLimits(max_ece=0.1, min_days=20))
    decay = dict(zip(table["target"], table["decay"], strict=True))
    assert decay == {"drawdown": True, "support": False}
    assert calibration_table(None, MonitorLimits()).empty
