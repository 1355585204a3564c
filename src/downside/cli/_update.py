"""`downside update`: fetch what is new from live sources into the store."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from downside.cli import _params
from downside.cli._app import DATA_PANEL, app, console, error, handle_errors, note
from downside.cli._output import Col, Format, FormatOption, emit, show_table
from downside.cli._progress import bars
from downside.config import load_settings

if TYPE_CHECKING:
    import pandas as pd

_SOURCES_HELP = (
    "Comma-separated source names, e.g. binance,fred (binance = binance_usdm and "
    "binance_spot); an unknown name lists the known ones. Default: a keyless set (see the "
    "README), plus coinglass when COINGLASS_API_KEY is set."
)
"""The names themselves live in downside.sources.live, which is too heavy to import for
``--help``."""


@app.command("update", rich_help_panel=DATA_PANEL)
@handle_errors
def update_command(
    sources: Annotated[str | None, typer.Option(help=_SOURCES_HELP)] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated base assets, e.g. BTC,ETH.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Start every series at this date instead of after its last row."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Fetch event times before this date (default: now).")
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Fetch only what is new from live sources into the store (resumable).

    Each series starts after its last stored time; pages are ingested atomically and
    checkpointed, so an interrupted update resumes where it stopped. API keys are read
    from FRED_API_KEY and COINGLASS_API_KEY and never printed. Retries and waits show
    with -v (downside -v update ...).
    """
    import pandas as pd

    from downside.sources.live import make_connectors
    from downside.store import Store, update

    names = _params.items("--sources", sources, "source names") if sources is not None else None
    assets = _params.symbols("--symbols", symbols) if symbols is not None else None
    start = _params.maybe_when("--since", since)
    end = _params.maybe_when("--until", until)
    settings = load_settings()
    connectors = make_connectors(names, settings=settings)
    series_ids = [s.id for c in connectors for s in c.series(assets)]
    with bars() as progress:
        bar = progress.add("series", total=len(series_ids))

        def on_progress(message: str) -> None:
            current = message.split(": ", 1)[0]
            done = series_ids.index(current) if current in series_ids else None
            bar.update(completed=done, description=message)

        report = update(
            Store.from_settings(settings),
            connectors,
            symbols=assets,
            since=start,
            until=end,
            progress=on_progress,
        )
        bar.finish(f"{len(report.series)} series")
    rows = pd.DataFrame(
        [dataclasses.asdict(item) for item in report.series],
        columns=[f.name for f in dataclasses.fields(type(report.series[0]))]
        if report.series
        else ["series"],
    )
    document = {
        "version_before": report.version_before,
        "version_after": report.version_after,
        "pages": report.pages,
        "inserted": report.inserted,
        "updated": report.updated,
        "ok": report.ok,
        "series": rows,
        "errors": report.errors,
    }
    for item in report.series:
        if item.series not in report.errors:
            for text in item.notes:
                note(f"{item.series}: {text}")
    if not emit(fmt, rows, document):
        _show(rows)
        console.print(
            f"{report.pages} page(s), {report.inserted:,} new and {report.updated:,} changed "
            f"row(s); store version {report.version_before} -> {report.version_after}",
            markup=False,
            highlight=False,
        )
    if not report.ok:
        for series, message in report.errors.items():
            error(f"{series} failed: {message}")
        note(
            "the store holds every page fetched before the failure; rerun `downside update` "
            "to resume"
        )
        raise typer.Exit(1)


def _show(rows: pd.DataFrame) -> None:
    if rows.empty:
        note("no series to update")
        return
    parts = rows["series"].str.partition("/")
    shown = rows.assign(
        source=parts[0],
        name=parts[2],
        state=[
            status + (" (resumed)" if resumed else "")
            for status, resumed in zip(rows["status"], rows["resumed"], strict=True)
        ],
    )
    show_table(
        shown,
        [
            Col("source", keep=True),
            Col("name", keep=True),
            Col("table", optional=True),
            Col("state"),
            Col("pages", kind="int"),
            Col("inserted", "new", "int"),
            Col("updated", "changed", "int"),
            Col("dropped", "left out", "int", optional=True),
            Col("last_event_ts", "last event", "time"),
        ],
        "downside update",
    )
