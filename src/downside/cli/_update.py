"""`downside update`: fetch what is new from live sources into the store."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from downside.cli._app import app, console, err, handle_errors
from downside.config import load_settings
from downside.errors import ConfigError
from downside.sources.live import DEFAULT_SOURCES, SOURCE_NAMES, make_connectors
from downside.store import Store, UpdateReport, update

_SOURCES_HELP = (
    f"Comma-separated sources: {', '.join(SOURCE_NAMES)} (binance = binance_usdm and "
    f"binance_spot). Default: {', '.join(DEFAULT_SOURCES)}, plus coinglass when "
    "COINGLASS_API_KEY is set."
)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    return items or None


def _date(text: str | None, option: str) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        ts = pd.Timestamp(text)
    except ValueError as exc:
        raise ConfigError(
            f"{option} must be a date such as 2024-01-01, received {text!r}; fix {option}"
        ) from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _when(ts: pd.Timestamp | None) -> str:
    if ts is None or pd.isna(ts):
        return "-"
    return f"{ts:%Y-%m-%d %H:%M}"


def _summary(report: UpdateReport) -> Table:
    table = Table(title="downside update", show_lines=False)
    for name, justify in (
        ("source", "left"),
        ("series", "left"),
        ("table", "left"),
        ("status", "left"),
        ("pages", "right"),
        ("new rows", "right"),
        ("changed", "right"),
        ("left out", "right"),
        ("last event", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for item in report.series:
        source, _, name = item.series.partition("/")
        status = item.status + (" (resumed)" if item.resumed else "")
        style = {"failed": "red", "up_to_date": "dim"}.get(item.status, "")
        table.add_row(
            source,
            name,
            item.table,
            status,
            str(item.pages),
            f"{item.inserted:,}",
            f"{item.updated:,}",
            f"{item.dropped:,}",
            _when(item.last_event_ts),
            style=style,
        )
    return table


@app.command("update")
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
) -> None:
    """Fetch only what is new from live sources into the store (resumable).

    Each series starts after its last stored time; pages are ingested atomically and
    checkpointed, so an interrupted update resumes where it stopped. API keys are read
    from FRED_API_KEY and COINGLASS_API_KEY and never printed.
    """
    settings = load_settings()
    store = Store.from_settings(settings)
    connectors = make_connectors(_split(sources), settings=settings)
    start = _date(since, "--since")
    end = _date(until, "--until")
    with console.status("updating", spinner="dots") as status:
        report = update(
            store,
            connectors,
            symbols=_split(symbols),
            since=start,
            until=end,
            progress=lambda msg: status.update(msg),
        )
    console.print(_summary(report))
    console.print(
        f"{report.pages} page(s), {report.inserted:,} new and {report.updated:,} changed "
        f"row(s); store version {report.version_before} -> {report.version_after}"
    )
    if not report.ok:
        for series, message in report.errors.items():
            err.print(f"[bold red]failed:[/] {series}: {message}", highlight=False, markup=True)
        err.print(
            "the store holds every page fetched before the failure; rerun `downside update` "
            "to resume"
        )
        raise typer.Exit(1)
