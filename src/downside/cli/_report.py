"""`downside report`: an HTML risk report with PNG figures for one symbol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from downside import api
from downside.cli._app import app, console, handle_errors


@app.command()
@handle_errors
def report(
    symbol: Annotated[str, typer.Option(help="Symbol, e.g. BTC.")],
    out: Annotated[Path, typer.Option(help="Folder for index.html and the PNG figures.")],
    asof: Annotated[str | None, typer.Option(help="Report time (UTC); default latest.")] = None,
    threshold: Annotated[
        float, typer.Option(help="Drawdown (percent) of the history and drivers figures.")
    ] = 10.0,
    horizon: Annotated[float, typer.Option(help="Horizon in days of those figures.")] = 7.0,
    history_days: Annotated[int, typer.Option(help="Days of forecast history shown.")] = 365,
    alias: Annotated[str, typer.Option(help="Registry alias of the models.")] = "champion",
) -> None:
    """Probability surface, forecast history vs realized drawdowns, supports, drivers and
    the reliability of the models in use, on one page."""
    result = api.risk_report(
        symbol,
        out,
        asof=asof,
        threshold=threshold / 100.0,
        horizon_days=horizon,
        history_days=history_days,
        forecaster=api.Forecaster.load(alias=alias),
    )
    console.print(
        f"wrote {result.index} ({len(result.files) - 1} figures) for {symbol.upper()} as of "
        f"{result.asof:%Y-%m-%d %H:%M} UTC"
    )
    if result.stale_features:
        console.print(f"[yellow]stale inputs:[/] {', '.join(result.stale_features)}")
