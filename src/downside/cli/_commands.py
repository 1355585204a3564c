"""The commands of the `downside` CLI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from downside import api
from downside.cli._app import (
    _floats,
    app,
    console,
    features_app,
    handle_errors,
    ingest_app,
    models_app,
    predict_app,
    show,
    write_out,
)
from downside.config import load_settings
from downside.features import FeatureStore, load_definitions
from downside.tracking import connect, list_versions, promote


def family_columns(frame: pd.DataFrame) -> list[str]:
    """The driver-family columns of an answer: those between ``p_reference`` and
    ``leading_driver`` (the model's families, in its order)."""
    names = list(frame.columns)
    return names[names.index("p_reference") + 1 : names.index("leading_driver")]


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    )


@app.command()
@handle_errors
def quickstart(
    trials: Annotated[int, typer.Option(help="Optuna trials per model (brief tuning).")] = 2,
    folds: Annotated[int, typer.Option(help="Walk-forward folds for tuning and scoring.")] = 2,
) -> None:
    """Simulate -> ingest -> features -> tune -> train -> register -> print a risk table."""
    settings = load_settings()
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("starting", total=None)
        result = api.quickstart(
            settings=settings,
            trials=trials,
            folds=folds,
            progress=lambda msg: progress.update(task, description=msg),
        )
        progress.update(task, description="done")
    surface = result.surface
    console.print(
        f"\n[bold]Risk table as of {result.asof:%Y-%m-%d %H:%M} UTC[/] (simulated market)"
    )
    for symbol, part in surface.groupby("symbol", sort=True):
        grid = part.pivot_table(index="threshold", columns="horizon_days", values="probability")
        grid.index = [f">= {100 * x:.0f}%" for x in grid.index]
        grid.columns = [f"{h:g}d" for h in grid.columns]
        show(
            grid.reset_index(names="drawdown"),
            f"{symbol}: P(drawdown within H days)",
            pct=tuple(grid.columns),
        )
    lead = surface.loc[surface["horizon_days"] == surface["horizon_days"].median()]
    show(
        lead[
            [
                "symbol",
                "threshold",
                "horizon_days",
                "probability",
                "baseline_probability",
                *family_columns(surface),
            ]
        ],
        "Driver contributions (probability points) at the middle horizon",
        pct=("threshold", "probability", "baseline_probability", *family_columns(surface)),
    )
    sup = result.supports
    show(
        sup[
            [
                "symbol",
                "level",
                "level_type",
                "distance_pct",
                "horizon_days",
                "probability",
                "leading_driver",
            ]
        ],
        "P(support break)",
        pct=("distance_pct", "probability"),
    )
    console.print(
        f"registered {result.drawdown.registered_model} v{result.drawdown.version} "
        f"({', '.join(result.drawdown.aliases)}) and {result.support.registered_model} "
        f"v{result.support.version} ({', '.join(result.support.aliases)}) in "
        f"{settings.resolved_registry_uri}; {time.perf_counter() - started:.0f} s"
    )


@ingest_app.command("files")
@handle_errors
def ingest_files(
    directory: Annotated[Path, typer.Argument(help="Folder of <table>.parquet|csv files.")],
) -> None:
    """Validate and ingest every table file of DIRECTORY (idempotent and atomic)."""
    report = api.ingest_files(directory, settings=load_settings())
    show(report.to_frame(), f"ingested {directory}")


@features_app.command("list")
@handle_errors
def features_list() -> None:
    """List the feature definitions (validates them)."""
    settings = load_settings()
    definitions = load_definitions(settings.resolved_feature_dir)
    frame = pd.DataFrame(
        [
            {
                "name": d.name,
                "family": d.family,
                "inputs": ", ".join(d.inputs),
                "window": d.window or "",
                "ttl": d.ttl,
                "description": d.description,
            }
            for d in definitions
        ]
    )
    show(frame, f"{len(frame)} features from {settings.resolved_feature_dir}")


@features_app.command("export")
@handle_errors
def features_export(
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols, e.g. BTC,ETH.")],
    start: Annotated[str, typer.Option(help="First as-of date (UTC).")],
    end: Annotated[str, typer.Option(help="Last as-of date (UTC).")],
    out: Annotated[Path, typer.Option(help="Output .parquet or .csv.")],
    freq: Annotated[str, typer.Option(help="1d or 1h.")] = "1d",
) -> None:
    """Export point-in-time features: one row per symbol and as-of time."""
    if freq not in ("1d", "1h"):
        raise typer.BadParameter(f"--freq must be 1d or 1h, got {freq!r}")
    fs = FeatureStore.from_settings(load_settings())
    bounds = (_utc_option("--start", start), _utc_option("--end", end))
    frame = fs.export([s.strip().upper() for s in symbols.split(",")], *bounds, freq)  # type: ignore[arg-type]
    write_out(frame, out)


def _utc_option(name: str, value: str) -> pd.Timestamp:
    """A date or time option as a UTC timestamp; a time without offset is read as UTC."""
    try:
        ts = pd.Timestamp(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{name} must be a date or time such as 2024-01-01 or 2024-01-01T06:00Z, got {value!r}"
        ) from exc
    if pd.isna(ts):
        raise typer.BadParameter(f"{name} must be a date or time, got {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@app.command()
@handle_errors
def train(
    spec: Annotated[
        str, typer.Argument(help="Spec name (drawdown) or path (models/drawdown.toml).")
    ],
    trials: Annotated[
        int | None, typer.Option(help="Tuning trials (default: the spec's budget).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Local tuning processes.")] = 1,
    timeout: Annotated[float | None, typer.Option(help="Tuning time limit in seconds.")] = None,
) -> None:
    """Tune, score on purged walk-forward folds, fit, log to MLflow and register."""
    with _progress() as progress:
        task = progress.add_task("starting", total=None)
        result = api.train(
            spec,
            trials=trials,
            workers=workers,
            timeout_s=timeout,
            progress=lambda msg: progress.update(task, description=msg),
        )
    metrics = pd.DataFrame(sorted(result.metrics.items()), columns=["metric", "value"])
    show(
        metrics,
        f"{result.registered_model} v{result.version} ({', '.join(result.aliases)}), "
        f"run {result.run_id}",
    )


@app.command()
@handle_errors
def tune(
    spec: Annotated[str, typer.Argument(help="Spec name or path.")],
    trials: Annotated[int, typer.Option(help="Total finished trials the study should reach.")] = 20,
    timeout: Annotated[float | None, typer.Option(help="Time limit in seconds.")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes on the same study.")] = 1,
) -> None:
    """Run the spec's Optuna study (joins it if it exists; resumes interrupted studies)."""
    result = api.tune(spec, trials=trials, timeout_s=timeout, workers=workers)
    show(pd.DataFrame([result.__dict__]).drop(columns=["best_params"]), "study")
    show(
        pd.DataFrame(sorted(result.best_params.items()), columns=["param", "value"]),
        "best parameters",
    )


@models_app.command("list")
@handle_errors
def models_list(
    name: Annotated[str | None, typer.Argument(help="Registered model name.")] = None,
) -> None:
    """Versions, aliases and key metrics of the registered models."""
    rows = list_versions(connect(load_settings()), name)
    show(
        pd.DataFrame(rows).drop(columns=["created"]) if rows else pd.DataFrame(),
        "registered models",
    )


@models_app.command("promote")
@handle_errors
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. downside-drawdown.")],
    force: Annotated[
        bool, typer.Option(help="Promote even if the challenger is not better.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force).")] = None,
) -> None:
    """Move `champion` to the `challenger` if it beats the champion on the same folds."""
    if force and not reason:
        raise typer.BadParameter(
            "--force needs --reason TEXT: the reason is recorded on the model version"
        )
    result = promote(connect(load_settings()), name, force=force, reason=reason)
    console.print(
        f"{result.model}: champion is now v{result.version} (was v{result.previous}); "
        f"log loss {result.challenger_log_loss:.5f} vs {result.champion_log_loss:.5f} on "
        f"{result.common_folds} common folds"
        + (f"; forced: {result.reason}" if result.forced else "")
    )


MAX_SCREEN_KEYS = 3
"""Above this many (symbol, as-of) pairs the CLI shows a long table instead of grids."""

MAX_SCREEN_ROWS = 60
"""Rows shown on screen at most; --out writes all of them."""


def _drivers_table(frame: pd.DataFrame, key: list[str], title: str, pct: tuple[str, ...]) -> None:
    columns = [
        *key,
        "probability",
        "baseline_probability",
        *family_columns(frame),
        "leading_driver",
    ]
    shown = frame[columns].head(MAX_SCREEN_ROWS)
    show(shown, title, pct=pct)
    if len(frame) > len(shown):
        console.print(f"... {len(frame) - len(shown):,} more rows; write them all with --out")


def _stale_note(frame: pd.DataFrame) -> None:
    stale = sorted({n for v in frame["stale_features"] for n in str(v).split(",") if n})
    if stale:
        console.print(
            f"[yellow]stale inputs (older than their TTL, treated as missing):[/] "
            f"{', '.join(stale)}"
        )


@predict_app.command("drawdown")
@handle_errors
def predict_drawdown(
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols, e.g. BTC,ETH.")],
    asof: Annotated[str | None, typer.Option(help="As-of time (UTC); default latest.")] = None,
    asof_from: Annotated[str | None, typer.Option(help="Batch: first as-of date.")] = None,
    asof_to: Annotated[str | None, typer.Option(help="Batch: last as-of date.")] = None,
    thresholds: Annotated[str | None, typer.Option(help="Percent, e.g. 5,10,20.")] = None,
    horizons: Annotated[str | None, typer.Option(help="Days, e.g. 1,7,30.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write .parquet or .csv.")] = None,
    allow_stale: Annotated[
        bool, typer.Option(help="Answer with stale inputs treated as missing.")
    ] = False,
    alias: Annotated[str, typer.Option(help="Registry alias of the model.")] = "champion",
) -> None:
    """P(drawdown >= X% within H days), with the baseline and the driver contributions."""
    when: object = asof
    if asof_from or asof_to:
        if not (asof_from and asof_to) or asof:
            raise typer.BadParameter("use --asof, or both --asof-from and --asof-to")
        when = pd.date_range(asof_from, asof_to, freq="D", tz="UTC")
        if len(when) == 0:
            raise typer.BadParameter(f"no day between {asof_from} and {asof_to}")
    fc = api.Forecaster.load(support_uri=None, alias=alias)
    frame = fc.predict_drawdown(
        [s.strip() for s in symbols.split(",") if s.strip()],
        asof=when,
        thresholds=_floats(thresholds, scale=0.01),
        horizons=_floats(horizons),
        allow_stale=allow_stale,
    )
    if out:
        write_out(frame, out)
        return
    keys = frame[["symbol", "asof"]].drop_duplicates()
    pct = ("threshold", "probability", "baseline_probability", *family_columns(frame))
    if len(keys) <= MAX_SCREEN_KEYS:
        for (symbol, at), part in frame.groupby(["symbol", "asof"], sort=True):
            grid = part.pivot_table(index="threshold", columns="horizon_days", values="probability")
            grid.index = [f">= {100 * x:g}%" for x in grid.index]
            grid.columns = [f"{h:g}d" for h in grid.columns]
            show(
                grid.reset_index(names="drawdown"),
                f"{symbol} as of {at:%Y-%m-%d %H:%M} UTC: P(drawdown within H days)",
                pct=tuple(grid.columns),
            )
        _drivers_table(
            frame,
            ["symbol", "threshold", "horizon_days"],
            "Baseline and driver contributions (probability points)",
            pct,
        )
    else:
        _drivers_table(frame, ["asof", "symbol", "threshold", "horizon_days"], "P(drawdown)", pct)
    _stale_note(frame)


@predict_app.command("support")
@handle_errors
def predict_support(
    symbol: Annotated[str, typer.Option(help="Symbol, e.g. BTC.")],
    levels: Annotated[
        str | None, typer.Option(help="Price levels, e.g. 85000,80000; default detected.")
    ] = None,
    horizons: Annotated[str | None, typer.Option(help="Days, e.g. 7,14.")] = None,
    asof: Annotated[str | None, typer.Option(help="As-of time (UTC); default latest.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write .parquet or .csv.")] = None,
    allow_stale: Annotated[
        bool, typer.Option(help="Answer with stale inputs treated as missing.")
    ] = False,
    alias: Annotated[str, typer.Option(help="Registry alias of the model.")] = "champion",
) -> None:
    """P(a support level breaks within H days): a daily close below it."""
    fc = api.Forecaster.load(drawdown_uri=None, alias=alias)
    frame = fc.predict_support_break(
        symbol,
        levels=_floats(levels),
        horizons=_floats(horizons),
        asof=asof,
        allow_stale=allow_stale,
    )
    if out:
        write_out(frame, out)
        return
    at = frame["asof"].iloc[0]
    price = frame["ref_close"].iloc[0]
    grid = frame.pivot_table(index="level", columns="horizon_days", values="probability")
    grid = grid.sort_index(ascending=False)
    types = frame.drop_duplicates("level").set_index("level")["level_type"]
    table = pd.DataFrame(
        {
            "level": [f"{v:,.2f}" for v in grid.index],
            "type": [str(types[v]) for v in grid.index],
            "below price": [f"{100 * (1 - v / price):.1f}%" for v in grid.index],
        }
    )
    for h in grid.columns:
        table[f"{h:g}d"] = grid[h].to_numpy()
    show(
        table,
        f"{frame['symbol'].iloc[0]} as of {at:%Y-%m-%d %H:%M} UTC (last close {price:,.2f}): "
        "P(close below the level within H days)",
        pct=tuple(f"{h:g}d" for h in grid.columns),
    )
    _drivers_table(
        frame,
        ["level", "level_type", "horizon_days"],
        "Baseline and driver contributions (probability points)",
        ("probability", "baseline_probability", *family_columns(frame)),
    )
    _stale_note(frame)
