"""`downside quickstart`: a simulated market end to end, no network, no server."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from downside.cli import _params
from downside.cli._app import START_PANEL, app, console, handle_errors
from downside.cli._output import Col, Format, FormatOption, emit, show_table
from downside.cli._predict import driver_cols, family_columns, grid_table, legend, with_labels
from downside.cli._progress import bars
from downside.config import Settings, load_settings

if TYPE_CHECKING:
    from downside.api import QuickstartResult
    from downside.tracking import TrainResult

TRAIN_STEPS = 4
"""Steps of a training without tuning: frame, folds, final fit, logging and registering."""


def train_document(result: TrainResult) -> dict[str, object]:
    return {
        "spec": result.spec,
        "model": result.registered_model,
        "version": result.version,
        "aliases": result.aliases,
        "run_id": result.run_id,
        "trials": result.n_trials,
        "params": result.params,
        "metrics": result.metrics,
    }


@app.command(rich_help_panel=START_PANEL)
@handle_errors
def quickstart(
    trials: Annotated[int, typer.Option(help="Optuna trials per model (brief tuning).")] = 2,
    folds: Annotated[int, typer.Option(help="Walk-forward folds for tuning and scoring.")] = 2,
    fmt: FormatOption = Format.table,
) -> None:
    """Simulate -> ingest -> features -> tune -> train -> register -> print a risk table."""
    from downside import api

    _params.at_least("--trials", trials, 0)
    _params.at_least("--folds", folds, 1)
    settings = load_settings()
    started = time.perf_counter()
    per_model = 1 + TRAIN_STEPS + (trials > 0)
    with bars() as progress:
        steps = progress.add("starting", total=3 + 2 * per_model)
        result = api.quickstart(settings=settings, trials=trials, folds=folds, progress=steps.step)
        steps.finish("done")
    elapsed = time.perf_counter() - started
    if emit(fmt, result.surface, _quickstart_document(result, settings)):
        return
    _show_quickstart(result, settings, elapsed)


def _quickstart_document(result: QuickstartResult, settings: Settings) -> dict[str, object]:
    return {
        "asof": result.asof,
        "registry": settings.resolved_registry_uri,
        "models": [train_document(result.drawdown), train_document(result.support)],
        "drawdown": result.surface,
        "support": result.supports,
    }


def _show_quickstart(result: QuickstartResult, settings: Settings, elapsed: float) -> None:
    surface = with_labels(result.surface)
    console.print(
        f"\n[bold]Risk table as of {result.asof:%Y-%m-%d %H:%M} UTC[/] (simulated market)"
    )
    for symbol, part in surface.groupby("symbol", sort=True):
        grid_table(part, f"{symbol}: P(drawdown within H days)")
    families = family_columns(result.surface)
    middle = surface.loc[surface["horizon_days"] == surface["horizon_days"].median()]
    show_table(
        middle,
        driver_cols(families, [Col("symbol", keep=True), Col("X", keep=True), Col("H", keep=True)]),
        "Driver contributions (probability points) at the middle horizon",
        caption=legend(families),
    )
    sup = with_labels(result.supports)
    show_table(
        sup,
        [
            Col("symbol", keep=True),
            Col("level", kind="price", keep=True),
            Col("level_type", "type"),
            Col("distance_pct", "below", "pct"),
            Col("H"),
            Col("probability", "P", "pct"),
            Col("lead", "lead", optional=True),
        ],
        "P(support break)",
    )
    dd, su = result.drawdown, result.support
    console.print(
        f"registered {dd.registered_model} v{dd.version} ({', '.join(dd.aliases)}) and "
        f"{su.registered_model} v{su.version} ({', '.join(su.aliases)}) in "
        f"{settings.resolved_registry_uri}; {elapsed:.0f} s",
        markup=False,
        highlight=False,
    )
