"""`downside backtest`: out-of-sample skill of a spec against the baselines."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from downside import api
from downside.cli._app import app, console, handle_errors, show
from downside.models import FoldScore


@app.command()
@handle_errors
def backtest(
    spec: Annotated[str, typer.Option(help="Spec name or file, e.g. models/drawdown.toml.")],
    start: Annotated[str, typer.Option(help="First out-of-sample as-of day (UTC).")],
    end: Annotated[str, typer.Option(help="Last out-of-sample as-of day (UTC).")],
    out: Annotated[Path, typer.Option(help="Folder for metrics, plots and summary.md.")],
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (default: the spec's).")
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates per interval.")] = 1000,
) -> None:
    """Score the spec's model and the baselines on purged walk-forward folds in a window."""
    names = [s.strip().upper() for s in symbols.split(",") if s.strip()] if symbols else None
    command = "downside " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    def on_fold(score: FoldScore) -> None:
        console.print(
            f"fold {score.key}: {score.n_test:,} forecasts, Brier {score.brier:.4f}",
            highlight=False,
        )

    result = api.backtest(
        spec,
        start=start,
        end=end,
        symbols=names,
        out=out,
        n_boot=n_boot,
        command=command if sys.argv[1:2] == ["backtest"] else None,
        on_fold=on_fold,
    )
    horizon = result.skill[result.skill["scope"] == "horizon"]
    table = horizon.pivot_table(index="horizon_days", columns="baseline", values="skill")
    show(
        table.reset_index(),
        f"Brier skill vs baselines ({result.start:%Y-%m-%d} to {result.end:%Y-%m-%d})",
        pct=tuple(table.columns),
    )
    best = result.overall_skill(result.best_baseline)
    console.print(
        f"overall vs best baseline {result.best_baseline}: {100 * best['skill']:+.1f}% "
        f"[{100 * best['skill_lower']:+.1f}%, {100 * best['skill_upper']:+.1f}%]; "
        f"report in {out}",
        highlight=False,
    )
