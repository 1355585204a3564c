"""`downside models list|promote`: the registered models and the promotion gate."""

from __future__ import annotations

from typing import Annotated

import typer

from downside.cli._app import MODELS_PANEL, CliInputError, console, handle_errors, note, sub_app
from downside.cli._output import Col, Format, FormatOption, emit, show_table
from downside.cli._ready import NOTHING_TRAINED, require_registry
from downside.config import load_settings

models_app = sub_app("models", "Registered models: list and promote.", MODELS_PANEL)

VERSION_COLUMNS = [
    "model",
    "version",
    "aliases",
    "cv_log_loss",
    "cv_brier",
    "brier_skill_vs_vol",
    "created",
    "run_id",
]


@models_app.command("list")
@handle_errors
def models_list(
    name: Annotated[str | None, typer.Argument(help="Registered model name.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Versions, aliases and key metrics of the registered models."""
    import pandas as pd

    from downside.tracking import connect, list_versions

    settings = load_settings()
    require_registry(settings)
    rows = list_versions(connect(settings), name)
    frame = pd.DataFrame(rows, columns=VERSION_COLUMNS)
    frame["created"] = pd.to_datetime(frame["created"], unit="ms", utc=True)
    if emit(fmt, frame):
        return
    if frame.empty:
        note(NOTHING_TRAINED)
        return
    show_table(
        frame,
        [
            Col("model", keep=True),
            Col("version", "v", "int", keep=True),
            Col("aliases"),
            Col("cv_log_loss", "log loss", "num"),
            Col("cv_brier", "Brier", "num"),
            Col("brier_skill_vs_vol", "skill", "skill"),
            Col("created", kind="time", optional=True),
            Col("run_id", "run", optional=True),
        ],
        "registered models",
        caption="cross-validated on the spec's walk-forward folds; skill: Brier skill "
        "against the volatility-only baseline",
    )


@models_app.command("promote")
@handle_errors
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. downside-drawdown.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the challenger is not better.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force).")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Move `champion` to the `challenger` if it beats the champion on the same folds."""
    import pandas as pd

    from downside.tracking import connect, promote

    if force and not reason:
        raise CliInputError(
            "--reason", "--force needs --reason TEXT (the reason is recorded on the model version)"
        )
    settings = load_settings()
    require_registry(settings)
    result = promote(connect(settings), name, force=force, reason=reason)
    document = {
        "model": result.model,
        "version": result.version,
        "previous": result.previous,
        "challenger_log_loss": result.challenger_log_loss,
        "champion_log_loss": result.champion_log_loss,
        "common_folds": result.common_folds,
        "forced": result.forced,
        "reason": result.reason,
    }
    if emit(fmt, pd.DataFrame([document]), document):
        return
    console.print(
        f"{result.model}: champion is now v{result.version} (was v{result.previous}); "
        f"log loss {result.challenger_log_loss:.5f} vs {result.champion_log_loss:.5f} on "
        f"{result.common_folds} common folds"
        + (f"; forced: {result.reason}" if result.forced else ""),
        markup=False,
        highlight=False,
    )
