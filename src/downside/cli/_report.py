"""`downside report`: an HTML risk report with PNG figures for one symbol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from downside.cli import _params
from downside.cli._app import FORECASTS_PANEL, CliInputError, app, console, handle_errors, warn
from downside.cli._output import (
    ForceOption,
    Format,
    FormatOption,
    atomic_dir,
    check_out_dir,
    emit,
)
from downside.cli._predict import load_forecaster, symbols_of


@app.command(rich_help_panel=FORECASTS_PANEL)
@handle_errors
def report(
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Symbol, e.g. BTC (required).")
    ] = None,
    *,
    out: Annotated[Path, typer.Option(help="New or empty folder for index.html and figures.")],
    asof: Annotated[str | None, typer.Option(help="Report time (UTC); default latest.")] = None,
    threshold: Annotated[
        str, typer.Option(help="Drawdown in percent of the history and drivers figures.")
    ] = "10",
    horizon: Annotated[str, typer.Option(help="Horizon in days of those figures.")] = "7",
    history_days: Annotated[int, typer.Option(help="Days of forecast history shown.")] = 365,
    alias: Annotated[str, typer.Option(help="Registry alias of the models.")] = "champion",
    force: ForceOption = False,
    fmt: FormatOption = Format.table,
    symbols: Annotated[str | None, typer.Option("--symbols", hidden=True)] = None,
) -> None:
    """An HTML risk page for one symbol: surface, history, supports, drivers, reliability.

    The probability surface, the forecast history against realized drawdowns, the
    supports, the drivers and the reliability of the models in use, with PNG figures.
    """
    names = symbols_of(symbol, symbols, "--symbol", "--symbols")
    if len(names) != 1:
        raise CliInputError(
            "--symbol", f"expected one symbol (one report per symbol), got {', '.join(names)}"
        )
    when = _params.maybe_when("--asof", asof)
    (fraction,) = _one(_params.percents("--threshold", threshold), "--threshold")
    (days,) = _one(_params.numbers("--horizon", horizon, "days"), "--horizon")
    if history_days < 1:
        raise CliInputError("--history-days", f"expected a number >= 1, got {history_days}")
    check_out_dir("--out", out, force=force)
    from downside import api

    fc = load_forecaster(drawdown=True, support=True, alias=alias)
    if fc.drawdown is not None:
        _params.check_percent_range("--threshold", [fraction], fc.drawdown.spec.frame.thresholds)
    with atomic_dir(out) as tmp:
        result = api.risk_report(
            names[0],
            tmp,
            asof=when,
            threshold=fraction,
            horizon_days=days,
            history_days=history_days,
            forecaster=fc,
        )
    files = [out / path.relative_to(tmp) for path in result.files]
    index = out / result.index.relative_to(tmp)
    if result.stale_features:
        warn(f"stale inputs: {', '.join(result.stale_features)}")
    document = {
        "symbol": names[0],
        "asof": result.asof,
        "index": index,
        "files": files,
        "stale_features": list(result.stale_features),
    }
    import pandas as pd

    rows = pd.DataFrame({"symbol": names[0], "asof": result.asof, "file": [str(f) for f in files]})
    if emit(fmt, rows, document):
        return
    console.print(
        f"wrote {index} ({len(files) - 1} figures) for {names[0]} as of "
        f"{result.asof:%Y-%m-%d %H:%M} UTC",
        markup=False,
        highlight=False,
    )


def _one(values: list[float], option: str) -> list[float]:
    if len(values) != 1:
        raise CliInputError(option, f"expected one number, got {len(values)}")
    return values
