"""The track-record report: what ``downside evaluate`` (and ``monitor``) write.

One folder: ``index.html`` (summary per model version, scores against every baseline,
rolling skill and calibration figures, reliability, and, with a monitoring report, the
drift, staleness and calibration checks), ``summary.csv``, ``scores.csv``,
``rolling.csv``, ``evaluated.parquet`` (every matured record with its label and the
baselines' probabilities) and the PNG figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from downside.evaluation import (
    ReportSection,
    reliability_diagram,
    rolling_chart,
    write_html_report,
)
from downside.workflows._evaluate import Evaluation
from downside.workflows._monitor import MonitorReport


def _pct(value: object) -> str:
    number = float(str(value))
    return "-" if pd.isna(number) else f"{100 * number:+.1f}%"


def _summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": summary["target"],
            "version": summary["model_version"],
            "as-of days": summary["days"],
            "forecasts": summary["n"],
            "from": [f"{t:%Y-%m-%d}" for t in summary["first_asof"]],
            "to": [f"{t:%Y-%m-%d}" for t in summary["last_asof"]],
            "event rate": [f"{v:.3f}" for v in summary["event_rate"]],
            "mean forecast": [f"{v:.3f}" for v in summary["mean_forecast"]],
            "Brier": [f"{v:.4f}" for v in summary["brier"]],
            "ECE": [f"{v:.3f}" for v in summary["ece"]],
            "best baseline": summary["best_baseline"],
            "joint skill": [
                f"{_pct(s)} [{_pct(lo)}, {_pct(hi)}]"
                for s, lo, hi in zip(
                    summary["skill"], summary["skill_lower"], summary["skill_upper"], strict=True
                )
            ],
        }
    )


def _scores_table(scores: pd.DataFrame) -> pd.DataFrame:
    chosen = scores[scores["model_version"] == "all"]
    return pd.DataFrame(
        {
            "model": chosen["target"],
            "forecast": chosen["forecast"],
            "Brier": [f"{v:.4f}" for v in chosen["brier"]],
            "log loss": [f"{v:.4f}" for v in chosen["log_loss"]],
            "ECE": [f"{v:.3f}" for v in chosen["ece"]],
            "joint score": [f"{v:.5f}" for v in chosen["joint_score"]],
            "model's joint skill against it": [_pct(v) for v in chosen["joint_skill"]],
        }
    )


def write_track_record(
    evaluation: Evaluation,
    out: Path,
    *,
    monitor: MonitorReport | None = None,
    records: Mapping[str, int] | None = None,
    title: str = "downside track record",
) -> list[Path]:
    """Write the track-record folder (see the module docstring).

    Args:
        evaluation: what :func:`downside.workflows.evaluate_ledger` measured.
        out: the folder (created; files of the same names are replaced).
        monitor: the monitoring checks to show, if any.
        records: ledger records per model version, for the introduction.
        title: page title.

    Returns:
        The files written, ``index.html`` first.
    """
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    sections: list[ReportSection] = []
    for name, table in (
        ("summary.csv", evaluation.summary),
        ("scores.csv", evaluation.scores),
        ("rolling.csv", evaluation.rolling),
    ):
        table.to_csv(out / name, index=False)
        files.append(out / name)
    if not evaluation.rows.empty:
        evaluation.rows.to_parquet(out / "evaluated.parquet", index=False)
        files.append(out / "evaluated.parquet")
        sections.append(
            ReportSection(
                "Track record",
                "Matured ledger forecasts (their horizon has passed) against what happened, "
                "labelled exactly as training rows. Joint skill: 1 - S_model / S_best over "
                "the mean Brier of each symbol, as-of day and horizon across the recorded "
                f"cells, with {evaluation.level:.0%} circular block-bootstrap intervals over "
                "days; 'all' pools every version.",
                table=_summary_table(evaluation.summary),
            )
        )
        sections.append(
            ReportSection(
                "Against every baseline (all versions)",
                "The backtest's eight baselines, refitted point in time on what was "
                "labelled before each block of as-of days.",
                table=_scores_table(evaluation.scores),
            )
        )
        if not evaluation.rolling.empty:
            files.append(
                rolling_chart(
                    evaluation.rolling,
                    out / "rolling.png",
                    title=f"rolling {evaluation.window_days}-day joint skill and ECE",
                )
            )
            sections.append(
                ReportSection(
                    "Over time",
                    f"Every window of {evaluation.window_days} as-of days: joint skill against "
                    "the best baseline with its interval (top) and expected calibration error "
                    "(bottom).",
                    files[-1],
                )
            )
        for target, table in evaluation.reliability.items():
            files.append(
                reliability_diagram(
                    {target: table}, out / f"reliability_{target}.png", title=f"{target} model"
                )
            )
            sections.append(ReportSection(f"Reliability of the {target} model", "", files[-1]))
    else:
        sections.append(
            ReportSection(
                "Track record",
                f"No forecast has matured yet ({evaluation.pending} recorded forecasts wait for "
                "their horizon to pass).",
            )
        )
    if monitor is not None:
        status = "healthy" if monitor.healthy else "ALERT: " + " ".join(monitor.reasons)
        sections.append(
            ReportSection(
                "Monitoring",
                f"As of {monitor.asof:%Y-%m-%d}: {status}"
                + (f" Notes: {' '.join(monitor.notes)}" if monitor.notes else ""),
            )
        )
        if not monitor.drift.empty:
            drift = monitor.drift.sort_values("psi", ascending=False)
            sections.append(
                ReportSection(
                    "Input drift",
                    "PSI of the recent window against training, and the threshold: the "
                    "larger of the alert level and the spread of same-length windows in "
                    "training.",
                    table=pd.DataFrame(
                        {
                            "model": drift["model"],
                            "input": drift["input"],
                            "PSI": [f"{v:.2f}" for v in drift["psi"]],
                            "threshold": [f"{v:.2f}" for v in drift["threshold"]],
                            "outside training range": [
                                f"{100 * v:.0f}%" for v in drift["outside_share"]
                            ],
                            "drift": ["yes" if v else "" for v in drift["drift"]],
                        }
                    ),
                )
            )
        sections.append(
            ReportSection(
                "Sources",
                "",
                table=monitor.sources.assign(
                    age_hours=[f"{v:.0f}" for v in monitor.sources["age_hours"]]
                ),
            )
        )
    counts = ", ".join(f"{k}: {v:,}" for k, v in (records or {}).items()) or "none"
    intro = (
        f"{len(evaluation.rows):,} matured forecasts scored, {evaluation.pending:,} still open. "
        f"Ledger records per model version: {counts}."
    )
    index = write_html_report(out, title, intro, sections)
    return [index, *files]
