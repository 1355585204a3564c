"""`downside backtest SPEC`: out-of-sample skill of a spec against the baselines."""

from __future__ import annotations

import logging
import math
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from downside.cli import _params
from downside.cli._app import MODELS_PANEL, CliInputError, app, console, handle_errors, warn
from downside.cli._cluster import ClusterOption, on_cluster
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
from downside.cli._progress import bars
from downside.config import load_settings

if TYPE_CHECKING:
    from downside.models import FoldScore

log = logging.getLogger("downside.cli")


@app.command(rich_help_panel=MODELS_PANEL)
@handle_errors
def backtest(
    spec: Annotated[
        str | None,
        typer.Argument(
            help="Spec name (drawdown) or path (models/drawdown.toml).", show_default=False
        ),
    ] = None,
    *,
    start: Annotated[str, typer.Option(help="First out-of-sample as-of day (UTC).")],
    end: Annotated[str, typer.Option(help="Last out-of-sample as-of day (UTC).")],
    out: Annotated[
        Path, typer.Option(help="New or empty folder for metrics, plots and summary.md.")
    ],
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (default: the spec's).")
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates per interval.")] = 1000,
    cluster: ClusterOption = None,
    force: ForceOption = False,
    fmt: FormatOption = Format.table,
    spec_option: Annotated[
        str | None, typer.Option("--spec", hidden=True, help="Deprecated: pass SPEC first.")
    ] = None,
) -> None:
    """Score the spec's model and the baselines on purged walk-forward folds in a window."""
    if spec_option is not None:
        if spec is not None:
            raise CliInputError("--spec", "pass the spec once, as the first argument")
        warn(
            "--spec is deprecated and goes in the next release; pass the spec first: "
            f"downside backtest {spec_option} --start ..."
        )
        spec = spec_option
    if spec is None:
        raise CliInputError(
            "SPEC", "expected a spec name or path first, e.g. downside backtest drawdown ..."
        )
    first = _params.when("--start", start)
    last = _params.when("--end", end)
    if last < first:
        raise CliInputError("--end", f"expected a day at or after --start {start}, got {end}")
    names = _params.symbols("--symbols", symbols) if symbols is not None else None
    if n_boot < 1:
        raise CliInputError("--n-boot", f"expected a number >= 1, got {n_boot}")
    check_out_dir("--out", out, force=force)

    from downside import api
    from downside.models import load_spec

    settings = load_settings({"cluster": cluster})
    test_days = load_spec(spec, settings.resolved_model_dir).test_days
    expected = max(1, math.ceil(((last - first).days + 1) / test_days))
    argv = sys.argv[1:]
    command = "downside " + " ".join(shlex.quote(a) for a in argv) if "backtest" in argv else None
    with on_cluster(settings), bars() as progress, atomic_dir(out) as tmp:
        bar = progress.add("folds", total=expected)

        def on_fold(score: FoldScore) -> None:
            message = f"fold {score.key}: {score.n_test:,} forecasts, Brier {score.brier:.4f}"
            log.info(message)
            bar.update(completed=bar.completed + 1, description=f"fold {score.key}")

        result = api.backtest(
            spec,
            start=f"{first:%Y-%m-%d}",
            end=f"{last:%Y-%m-%d}",
            symbols=names,
            out=tmp,
            n_boot=n_boot,
            settings=settings,
            command=command,
            on_fold=on_fold,
        )
        bar.finish("folds scored; report written")
    best = result.joint_skill()
    document = {
        "spec": result.spec.name,
        "start": result.start,
        "end": result.end,
        "out": str(out),
        "best_baseline": result.best_baseline,
        "joint_skill_vs_best": {k: best[k] for k in ("skill", "skill_lower", "skill_upper")},
        "joint": result.joint,
        "early_warning": result.warning,
        "monotonicity_violations": result.monotonicity_violations,
        "skill": result.skill,
    }
    if emit(fmt, result.skill, document):
        return
    horizon = result.skill[result.skill["scope"] == "horizon"]
    table = horizon.pivot_table(index="horizon_days", columns="baseline", values="skill")
    shown = table.reset_index()
    shown["H"] = [f"{h:g}d" for h in shown["horizon_days"]]
    show_table(
        shown,
        [Col("H", keep=True), *(Col(str(c), kind="skill") for c in table.columns)],
        f"Brier skill vs baselines ({result.start:%Y-%m-%d} to {result.end:%Y-%m-%d})",
    )
    console.print(
        f"joint surface score vs best baseline {result.best_baseline}: "
        f"{100 * best['skill']:+.1f}% [{100 * best['skill_lower']:+.1f}%, "
        f"{100 * best['skill_upper']:+.1f}%]; report in {out}",
        markup=False,
        highlight=False,
    )
