"""`downside forecast`, `downside evaluate` and `downside monitor`: the daily loop.

``forecast`` is the cron job: refresh, forecast, record in the ledger, write the report;
it exits 0 when the inputs were fresh, 3 when they were stale (the forecast is still
recorded), 1 on failure, 2 on bad input. ``monitor`` exits 0 when healthy, 3 on an
alert, 1 on an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

import typer

from downside.cli import _params
from downside.cli._app import (
    FORECASTS_PANEL,
    CliInputError,
    app,
    console,
    error,
    handle_errors,
    note,
    warn,
)
from downside.cli._output import (
    Col,
    ForceOption,
    Format,
    FormatOption,
    atomic_dir,
    check_out_dir,
    emit,
    show_table,
)
from downside.cli._predict import grid_table, heading, support_table
from downside.cli._progress import bars
from downside.cli._ready import require_registry, require_store
from downside.config import load_settings

if TYPE_CHECKING:
    from downside.workflows import MonitorReport

ALERT_EXIT = 3
"""Exit code of stale inputs (``forecast``) and of an alert (``monitor``)."""

_SOURCES_HELP = (
    "With --update: comma-separated source names (default: the keyless set of `downside update`)."
)
NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Judge freshness as of this time (UTC) instead of the clock (simulations).",
    ),
]


@app.command("forecast", rich_help_panel=FORECASTS_PANEL)
@handle_errors
def forecast_command(
    update: Annotated[
        bool, typer.Option("--update", help="Fetch what is new from live sources first.")
    ] = False,
    sources: Annotated[str | None, typer.Option(help=_SOURCES_HELP)] = None,
    ingest: Annotated[
        Path | None, typer.Option("--ingest", help="Ingest a folder of table files first.")
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (default: the models').")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the daily reports, written to OUT/YYYY-MM-DD/SYMBOL/ "
            "(default: $DOWNSIDE_HOME/reports)."
        ),
    ] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Record and print only; no HTML report.")
    ] = False,
    alias: Annotated[str, typer.Option(help="Registry alias of the models.")] = "champion",
    now: NowOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """The daily job: refresh, forecast, record in the ledger, write the risk report.

    The alias models forecast the drawdown surface and the support-break odds of every
    symbol at the latest as-of time; every forecast is appended to the forecast ledger
    (a rerun the same day records nothing new). Exit codes: 0 fresh inputs, 3 stale
    inputs (the forecast is still recorded; the reasons are on stderr), 1 failure.
    """
    if update and ingest is not None:
        raise CliInputError("--ingest", "pass --update or --ingest DIR, not both")
    if sources is not None and not update:
        raise CliInputError("--sources", "expected with --update (the sources to fetch)")
    if ingest is not None and not ingest.is_dir():
        raise CliInputError("--ingest", f"expected a folder of table files, got {ingest}")
    names = _params.symbols("--symbols", symbols) if symbols is not None else None
    source_names = _params.items("--sources", sources, "source names") if sources else None
    when = _params.maybe_when("--now", now)
    settings = load_settings()
    folder = None
    if not no_report:
        folder = out if out is not None else settings.home / "reports"
        if folder.exists() and not folder.is_dir():
            raise CliInputError("--out", f"{folder} is a file; expected a folder")
        from downside.cli._output import _check_not_in_store

        _check_not_in_store("--out", folder)
    require_registry(settings)
    if ingest is None and not update:
        require_store(settings)
    from downside import api

    with bars() as progress:
        bar = progress.add("forecast")
        run = api.forecast(
            symbols=names,
            update=update,
            sources=source_names,
            ingest=ingest,
            out=folder,
            alias=alias,
            now=when,
            settings=settings,
            progress=lambda message: bar.update(description=message),
        )
        bar.finish(f"recorded {run.daily.recorded} forecasts")
    daily = run.daily
    import pandas as pd

    rows = pd.concat(
        [a.assign(target=t) for t, a in daily.answers.items()], ignore_index=True, sort=False
    )
    document = {
        "asof": daily.asof,
        "recorded": daily.recorded,
        "already": daily.already,
        "fresh": daily.fresh,
        "stale": list(daily.stale),
        "data_version": daily.data_version,
        "models": {t: m.describe() for t, m in daily.models.items()},
        "reports": {s: str(p) for s, p in run.reports.items()},
        "sources": daily.sources,
        "seconds": round(run.seconds, 3),
        **daily.answers,
    }
    if not emit(fmt, rows, document):
        surface = daily.answers.get("drawdown")
        supports = daily.answers.get("support")
        for symbol in sorted(set(rows["symbol"])):
            price = rows.loc[rows["symbol"] == symbol, "ref_close"].iloc[0]
            heading(f"{symbol} as of {daily.asof:%Y-%m-%d %H:%M} UTC, last close {price:,.2f}")
            if surface is not None:
                part = surface[surface["symbol"] == symbol]
                if len(part):
                    grid_table(part, "P(drawdown within H days)")
            if supports is not None:
                part = supports[supports["symbol"] == symbol]
                if len(part):
                    support_table(part)
        models = ", ".join(m.describe() for m in daily.models.values())
        console.print(
            f"recorded {daily.recorded:,} forecasts of {models} in the ledger"
            + (f" ({daily.already:,} already there)" if daily.already else "")
            + (f"; reports in {run.folder}" if run.folder is not None else ""),
            markup=False,
            highlight=False,
        )
    if run.updated is not None and not run.updated.ok:
        for series, message in run.updated.errors.items():
            warn(f"update of {series} failed: {message} (the forecast used what the store holds)")
    if run.ingested is not None:
        note(f"ingested {run.ingested.origin}: {run.ingested.inserted:,} new rows")
    note(f"forecast done in {run.seconds:.1f} s")
    if daily.stale:
        for reason in daily.stale:
            error(f"stale inputs: {reason}")
        raise typer.Exit(ALERT_EXIT)


_MODEL_HELP = "Which models: drawdown, support or all."


def _model(value: str) -> str:
    if value not in ("all", "drawdown", "support"):
        raise CliInputError("--model", f"expected drawdown, support or all, got {value!r}")
    return value


@app.command("evaluate", rich_help_panel=FORECASTS_PANEL)
@handle_errors
def evaluate_command(
    replay: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--replay",
            help="FROM TO: first fill the ledger with what the model would have said on "
            "each day (point in time; refused for days its training saw).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[str, typer.Option(help=_MODEL_HELP)] = "all",
    version: Annotated[
        str | None, typer.Option(help="Registered version to replay (default: the alias's).")
    ] = None,
    alias: Annotated[str, typer.Option(help="Registry alias of the models.")] = "champion",
    out: Annotated[
        Path | None, typer.Option(help="New or empty folder for the track-record report.")
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates per interval.")] = 500,
    check: Annotated[
        bool, typer.Option("--check", help="Also run the monitoring checks into the report.")
    ] = False,
    log: Annotated[
        bool, typer.Option("--log/--no-log", help="Log a monitoring run to MLflow.")
    ] = True,
    now: NowOption = None,
    force: ForceOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Score every matured ledger forecast against what happened and the baselines.

    Per model version and over all: Brier, log loss, calibration, the joint surface
    score and skill against the backtest's baselines with block-bootstrap intervals,
    rolling over time; logged to MLflow as a monitoring run (metrics stepped by date).
    """
    chosen = _model(model)
    if replay is not None:
        first = _params.when("--replay", replay[0])
        last = _params.when("--replay", replay[1])
        if last < first:
            raise CliInputError(
                "--replay",
                f"expected FROM TO with TO on or after FROM, got {replay[0]} {replay[1]}",
            )
    elif version is not None:
        raise CliInputError("--version", "expected with --replay (the version replayed)")
    if version is not None and not version.isdigit():
        raise CliInputError("--version", f"expected a version number such as 3, got {version!r}")
    if n_boot < 10:
        raise CliInputError("--n-boot", f"expected a number >= 10, got {n_boot}")
    when = _params.maybe_when("--now", now)
    if out is not None:
        check_out_dir("--out", out, force=force)
    settings = load_settings()
    require_store(settings)
    if replay is not None or check:
        require_registry(settings)
    from downside import api

    def run(folder: Path | None) -> api.EvaluationRun:
        with bars() as progress:
            bar = progress.add("evaluate")
            result = api.evaluate(
                replay=replay,
                model=cast(Literal["all", "drawdown", "support"], chosen),
                version=version,
                alias=alias,
                out=folder,
                n_boot=n_boot,
                log=log,
                check=check,
                now=when,
                settings=settings,
                progress=lambda message: bar.update(description=message),
            )
            bar.finish(f"{len(result.evaluation.rows):,} forecasts scored")
        return result

    if out is not None:
        with atomic_dir(out) as tmp:
            result = run(tmp)
    else:
        result = run(None)
    evaluation = result.evaluation
    for described, (inserted, already) in result.replayed.items():
        note(f"replay of {described}: {inserted:,} forecasts recorded, {already:,} already there")
    document = {
        "records": result.records,
        "replayed": {k: {"inserted": v[0], "already": v[1]} for k, v in result.replayed.items()},
        "pending": evaluation.pending,
        "summary": evaluation.summary,
        "scores": evaluation.scores,
        "rolling": evaluation.rolling,
        "run_id": result.run_id,
        "out": str(out) if out is not None else None,
        "monitor": _monitor_document(result.monitor) if result.monitor is not None else None,
    }
    if emit(fmt, evaluation.summary, document):
        return
    if evaluation.summary.empty:
        console.print(
            f"no matured forecasts yet: {evaluation.pending:,} recorded forecasts wait for "
            "their horizon to pass",
            markup=False,
            highlight=False,
        )
        return
    shown = evaluation.summary.assign(
        version=evaluation.summary["model_version"],
        interval=[
            f"[{100 * lo:+.1f}%, {100 * hi:+.1f}%]"
            for lo, hi in zip(
                evaluation.summary["skill_lower"], evaluation.summary["skill_upper"], strict=True
            )
        ],
    )
    show_table(
        shown,
        [
            Col("target", "model", keep=True),
            Col("version", keep=True),
            Col("days", kind="int"),
            Col("brier", "Brier", "num"),
            Col("ece", "ECE", "num", optional=True),
            Col("best_baseline", "vs"),
            Col("skill", kind="skill"),
            Col("interval"),
        ],
        "track record: joint skill against the best baseline",
    )
    tail = f"; report in {out}" if out is not None else ""
    run_text = f"; MLflow run {result.run_id}" if result.run_id else ""
    console.print(
        f"{len(evaluation.rows):,} matured forecasts scored, {evaluation.pending:,} still "
        f"open{run_text}{tail}",
        markup=False,
        highlight=False,
    )


def _monitor_document(report: MonitorReport) -> dict[str, object]:
    return {
        "status": report.status,
        "asof": report.asof,
        "reasons": list(report.reasons),
        "notes": list(report.notes),
        "drift": report.drift,
        "sources": report.sources,
        "calibration": report.calibration,
    }


@app.command("monitor", rich_help_panel=FORECASTS_PANEL)
@handle_errors
def monitor_command(
    alias: Annotated[str, typer.Option(help="Registry alias of the models.")] = "champion",
    now: NowOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Input drift, stale sources and calibration decay of the models in use.

    Limits come from the monitor_* settings (DOWNSIDE_MONITOR_*). Exit codes: 0 healthy,
    3 alert (the reasons are printed), 1 error.
    """
    when = _params.maybe_when("--now", now)
    settings = load_settings()
    require_registry(settings)
    require_store(settings)
    from downside import api

    with bars() as progress:
        bar = progress.add("monitoring checks")
        report = api.monitor(alias=alias, now=when, settings=settings)
        bar.finish(report.status)
    if not emit(fmt, report.drift, _monitor_document(report)):
        drifting = report.drift[report.drift["drift"]]
        if len(drifting):
            show_table(
                drifting.sort_values("psi", ascending=False),
                [
                    Col("input", keep=True),
                    Col("psi", "PSI", "num"),
                    Col("threshold", "limit", "num"),
                    Col("outside_share", "outside", "pct"),
                ],
                "inputs drifting from training",
            )
        show_table(
            report.sources,
            [
                Col("table", keep=True),
                Col("last_available_ts", "last published", "time"),
                Col("age_hours", "age h", "num"),
                Col("limit_hours", "limit h", "num"),
            ],
            "sources",
        )
        for text in report.notes:
            note(text)
        console.print(
            f"{report.status} as of {report.asof:%Y-%m-%d}", markup=False, highlight=False
        )
    if not report.healthy:
        for reason in report.reasons:
            warn(reason)
        raise typer.Exit(ALERT_EXIT)
