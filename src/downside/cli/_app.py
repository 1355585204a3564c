"""`downside` command line: thin wrappers over :mod:`downside.api`.

Only the CLI turns errors into exit codes: 2 for bad input (a ``ValueError``-like
:class:`~downside.errors.DownsideError`), 1 for other failures.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from downside.errors import DownsideError, PromotionRefusedError, StaleDataError

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

app = typer.Typer(
    help="Point-in-time forecasts of crypto downside risk.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Ingest raw data into the point-in-time store.", no_args_is_help=True)
features_app = typer.Typer(help="List and export point-in-time features.", no_args_is_help=True)
models_app = typer.Typer(help="Registered models: list and promote.", no_args_is_help=True)
predict_app = typer.Typer(
    help="Probabilities of drawdowns and support breaks.", no_args_is_help=True
)
app.add_typer(ingest_app, name="ingest")
app.add_typer(features_app, name="features")
app.add_typer(models_app, name="models")
app.add_typer(predict_app, name="predict")

console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


CLI_HINTS: dict[type[DownsideError], str] = {
    StaleDataError: "on the command line: --allow-stale",
    PromotionRefusedError: "on the command line: --force --reason TEXT",
}
"""What a library error's remedy is called on the command line."""


def handle_errors(fn: F) -> F:
    """Print a DownsideError's message (and its command-line hint) and exit 2 (bad
    input) or 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DownsideError as exc:
            hint = next((h for cls, h in CLI_HINTS.items() if isinstance(exc, cls)), None)
            err.print("[bold red]error:[/] ", end="", markup=True)
            err.print(str(exc) + (f" ({hint})" if hint else ""), highlight=False, markup=False)
            raise typer.Exit(2 if isinstance(exc, ValueError) else 1) from exc

    return wrapper  # type: ignore[return-value]


def show(frame: pd.DataFrame, title: str, *, pct: tuple[str, ...] = ()) -> None:
    """Render a frame as a rich table; columns in ``pct`` as percentages."""
    table = Table(title=title, show_lines=False)
    for col in frame.columns:
        table.add_column(str(col), justify="right" if frame[col].dtype.kind in "fiu" else "left")
    for row in frame.itertuples(index=False):
        cells = []
        for col, value in zip(frame.columns, row, strict=True):
            if isinstance(value, float):
                cells.append(f"{100 * value:.1f}%" if col in pct else f"{value:,.4g}")
            elif isinstance(value, pd.Timestamp):
                cells.append(f"{value:%Y-%m-%d %H:%M}")
            else:
                cells.append(str(value))
        table.add_row(*cells)
    console.print(table)


def write_out(frame: pd.DataFrame, out: Path) -> None:
    """Write Parquet or CSV by suffix."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    elif out.suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        raise typer.BadParameter(f"--out must end in .parquet or .csv, got {out.name}")
    console.print(f"wrote {len(frame):,} rows to {out}")


def _floats(text: str | None, *, scale: float = 1.0) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) * scale for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from exc
