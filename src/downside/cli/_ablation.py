"""`downside ablation SPEC`: the skill each driver family adds to the volatility base."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from downside.cli import _params
from downside.cli._app import MODELS_PANEL, CliInputError, app, console, handle_errors
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


@app.command(rich_help_panel=MODELS_PANEL)
@handle_errors
def ablation(
    spec: Annotated[str, typer.Argument(help="Spec name (drawdown) or path.", show_default=False)],
    *,
    start: Annotated[str, typer.Option(help="First out-of-sample as-of day (UTC).")],
    end: Annotated[str, typer.Option(help="Last out-of-sample as-of day (UTC).")],
    out: Annotated[Path, typer.Option(help="New or empty folder for ablation.md and tables.")],
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates per interval.")] = 1000,
    force: ForceOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Leave-one-family-out and family-alone variants of a spec, scored out of sample by
    the joint surface score against the volatility base and the full model."""
    first = _params.when("--start", start)
    last = _params.when("--end", end)
    if last < first:
        raise CliInputError("--end", f"expected a day at or after --start {start}, got {end}")
    if n_boot < 1:
        raise CliInputError("--n-boot", f"expected a number >= 1, got {n_boot}")
    check_out_dir("--out", out, force=force)

    from downside import api

    argv = sys.argv[1:]
    command = "downside " + " ".join(shlex.quote(a) for a in argv) if "ablation" in argv else None
    with bars() as progress, atomic_dir(out) as tmp:
        bar = progress.add("variants", total=None)

        def on_variant(name: str) -> None:
            bar.update(description=f"variant {name}")

        result = api.ablation(
            spec,
            start=f"{first:%Y-%m-%d}",
            end=f"{last:%Y-%m-%d}",
            out=tmp,
            n_boot=n_boot,
            command=command,
            on_variant=on_variant,
        )
        bar.finish("variants scored; table written")
    if emit(fmt, result.table, {"spec": result.spec.name, "out": str(out), "table": result.table}):
        return
    show_table(
        result.table,
        [
            Col("variant", keep=True),
            Col("joint_score"),
            Col("skill_vs_base", kind="skill"),
            Col("lower_vs_base", kind="skill"),
            Col("upper_vs_base", kind="skill"),
        ],
        f"Ablation of {result.spec.name}: joint skill against the volatility base",
    )
    console.print(f"table in {out}", markup=False, highlight=False)
